"""gRPC plumbing every process shares: `server` (serve(), the interceptor, DOMAIN_TO_GRPC: the
one table from domain errors to statuses) and `client` (channel options, outgoing metadata,
rpc_error_to_domain(): the one way back from a status to a domain error)."""
