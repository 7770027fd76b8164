"""Cross-cutting helpers every GoVault process shares.

Owns: settings loading (`config`), structured logging (`logging`), the error tree and its gRPC
mapping (`errors`), PostgreSQL pools with their domain-error mapping (`db.pooled`) and the
migrations runner (`db`, `migrations`), S3 settings and the minio client factory (`s3_client`:
builds clients, never calls S3), gRPC server bootstrap with interceptors (`grpc_server`), caller
identity from gRPC metadata (`identity`), access-token verification (`tokens`) and the
Prometheus listener (`metrics`).

Must not: hold business rules of any service, or import a service package.
"""
