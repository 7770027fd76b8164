"""What can go wrong when talking to GoVault, as one small tree.

    ClientError
    ├── ApiError             the server answered an error body {error, code, request_id}
    │   ├── AuthError        401, or a credentials code (INVALID_CREDENTIALS answers 400 or 401)
    │   │   └── LoginRequired  the refresh token is gone, expired or revoked: log in again
    │   ├── NotFoundError    404
    │   └── ServerError      5xx (after the retries)
    ├── TransportError       no answer: connection refused/reset, timeout (after the retries)
    ├── IntegrityError       downloaded bytes do not match the stored checksum
    └── UploadExpired        a resumable upload session is no longer usable (start over)
"""

from __future__ import annotations

from typing import Any

AUTH_CODES = frozenset({
    "INVALID_CREDENTIALS", "INVALID_REFRESH_TOKEN", "REFRESH_TOKEN_REUSED", "INVALID_TOKEN",
    "TOKEN_EXPIRED", "UNAUTHENTICATED", "TOO_MANY_ATTEMPTS",
})


class ClientError(Exception):
    """Base of every error the client raises."""


class ApiError(ClientError):
    """An error answer: HTTP `status`, the stable `code`, the server's `request_id`."""

    def __init__(self, status: int, code: str, message: str, request_id: str = "",
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        where = f", request_id={self.request_id}" if self.request_id else ""
        return f"{self.message} (code={self.code}, status={self.status}{where})"


class AuthError(ApiError):
    pass


class LoginRequired(AuthError):
    pass


class NotFoundError(ApiError):
    pass


class ServerError(ApiError):
    pass


class TransportError(ClientError):
    """The server could not be reached or did not answer in time."""


class IntegrityError(ClientError):
    """Downloaded bytes differ from what the server stored."""


class UploadExpired(ClientError):
    """The upload session being resumed has expired, was aborted or failed."""


def error_from_response(status: int, body: Any, request_id: str,
                        retry_after_s: float | None = None) -> ApiError:
    """The exception for an error answer; bodies that are not GoVault's (a proxy's HTML page,
    an S3 XML error) still give a code derived from the status."""
    code = ""
    message = ""
    if isinstance(body, dict):
        code = str(body.get("code") or "")
        message = str(body.get("error") or "")
        request_id = str(body.get("request_id") or request_id)
    if not code:
        code = _FALLBACK_CODES.get(status, "INTERNAL" if status >= 500 else "HTTP_ERROR")
    if not message:
        message = f"HTTP {status}"
    cls: type[ApiError] = ApiError
    if status == 401 or code in AUTH_CODES:
        cls = AuthError
    elif status == 404:
        cls = NotFoundError
    elif status >= 500:
        cls = ServerError
    return cls(status, code, message, request_id, retry_after_s)


_FALLBACK_CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                   404: "NOT_FOUND", 409: "CONFLICT", 429: "RATE_LIMITED", 503: "UNAVAILABLE",
                   504: "TIMEOUT"}
