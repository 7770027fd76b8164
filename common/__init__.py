"""Cross-cutting helpers every GoVault process shares.

Owns: settings loading (`config`), structured logging (`logging`), the domain error tree and its
code catalog (`errors`: each code's HTTP and gRPC status; no transport), PostgreSQL pools with
their domain-error mapping (`db.pooled`) and the migrations runner (`db`, `migrations`), gRPC
plumbing (`grpc.server`: serve, the interceptor; `grpc.client`: channel options,
rpc_error_to_domain; `grpc.metadata`: the metadata keys, written and read; `grpc.identity`: the
caller verified from that metadata), access-token verification (`tokens`), the one S3 transport
(`s3/`: settings, signing, the client (requests, streams, timing), error mapping, XML parsing,
the SDK's blocking calls), shared file rules (`files`), periodic jobs (`background`), the event
loop (`loop`) and the Prometheus listener (`metrics`).

Must not: hold business rules of any service, or import a service package.
"""
