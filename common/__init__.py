"""Cross-cutting helpers every GoVault process shares.

Owns: settings loading (`config`), structured logging (`logging`), the domain error tree and its
code catalog (`errors`: no transport), PostgreSQL pools with their domain-error mapping
(`db.pooled`) and the migrations runner (`db`, `migrations`), gRPC plumbing (`grpc.server`:
serve, the interceptor, DOMAIN_TO_GRPC; `grpc.client`: channel options, outgoing metadata,
rpc_error_to_domain), caller identity from gRPC metadata (`identity`), access-token
verification (`tokens`), the S3 settings and minio client factory (`s3_client`), the event loop
(`loop`) and the Prometheus listener (`metrics`).

Must not: hold business rules of any service, or import a service package.
"""
