"""gRPC plumbing every process shares: `server` (serve(), the interceptor, which sends a domain
error with its code's status from the catalog, `common.errors.CODES`) and `client` (channel
options, outgoing metadata, rpc_error_to_domain(): the one way back from a status to a domain
error)."""
