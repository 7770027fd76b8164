"""gRPC plumbing every process shares: `server` (serve(), the interceptor, which sends a domain
error with its code's status from the catalog, `common.errors.CODES`), `client` (channel
options, rpc_error_to_domain(): the one way back from a status to a domain error), `metadata`
(the keys of calls between GoVault processes: what a call carries, how a servicer reads it),
`identity` (the caller a servicer verifies from that metadata) and `readiness`."""
