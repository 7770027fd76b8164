"""The edge: GoVault's public REST API (aiohttp), translated into gRPC calls.

Owns: HTTP parsing and validation of request shape, JWT verification (public keys from auth),
request ids, one log line per request, metrics by route template, security headers, CORS, body
limits, rate limiting and load shedding, the gRPC → HTTP status table and the error body.
Must not: decide business rules (services do), touch a database or the object store.
"""
