"""A small typed Python client for GoVault's public REST API (docs/design.md §3), used by the
`govault` command line (cli/), the tests and anyone else.

It owns: HTTP with retries (http.py, the only module that calls httpx), the error body turned
into one exception tree (errors.py), tokens with transparent refresh (tokens.py), one method per
REST operation with typed results (api.py, models.py), and resumable parallel whole-file
transfers streamed from disk (uploads.py, downloads.py, streams.py).

It must not: import any server package (edge, svc_*, common) — the REST contract is its only
tie to the server — nor print, prompt or read configuration; that is the CLI's job.

    with GoVaultClient("http://127.0.0.1:9000") as gv:
        gv.login("me@example.com", password)
        for f in gv.iter_files("owned"):
            print(f.file_id, f.name)
"""

from client.api import GoVaultClient
from client.downloads import Downloader, DownloadResult
from client.errors import (
    ApiError,
    AuthError,
    ClientError,
    IntegrityError,
    LoginRequired,
    NotFoundError,
    ServerError,
    TransportError,
    UploadExpired,
)
from client.http import RetryPolicy
from client.models import FileSummary, Page, Share, Tokens, UploadStatus, Usage, User
from client.streams import Cancelled, Flow
from client.tokens import MemoryTokenStore, TokenStore
from client.uploads import ResumeStore, Uploader, UploadOptions, UploadResult

__all__ = [
    "ApiError", "AuthError", "Cancelled", "ClientError", "DownloadResult", "Downloader",
    "FileSummary", "Flow", "GoVaultClient", "IntegrityError", "LoginRequired",
    "MemoryTokenStore", "NotFoundError", "Page", "ResumeStore", "RetryPolicy", "ServerError",
    "Share", "TokenStore", "Tokens", "TransportError", "UploadExpired", "UploadOptions",
    "UploadResult", "UploadStatus", "Uploader", "Usage", "User",
]
