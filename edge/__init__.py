"""The edge: GoVault's public REST API (aiohttp), translated into gRPC calls.

Owns: HTTP parsing and validation of request shape (bodies decode into the `edge.api` models,
which also generate /openapi.json), JWT verification (public keys from auth), request ids, one
log line per request, metrics by route template, security headers, CORS, body limits,
connection limits, rate limiting and load shedding, the gRPC → HTTP status table and the error
body.
Must not: decide business rules (services do), touch a database or the object store.

    server.py      serving: connection limits, protocol errors as JSON, graceful stop
    middleware.py  request id, log line, metrics, security headers, CORS, error body
    ratelimit/     token buckets per address and user (in-process or Redis)
    request.py     the caller (token, address) parsed once; bodies → models; query ints
    api/           request/response models and one Operation per route → OpenAPI
    routes/        handlers: parse → one typed `upstream.call` → shape (`shape.reply`)
    upstream.py    channels, typed stubs, in-flight bound; streaming.py: proxy chunk streams
"""

from common.runtime import prepare_process

prepare_process()  # before grpc is imported: see common/runtime.py
