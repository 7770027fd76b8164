"""What an S3 answer means to a service, decided once (`classify`): the refusals a service acts
on (`EntityTooSmall`, `InvalidPart`, `NoSuchUpload`), a store out of space (`StorageFull`: HTTP
507, MinIO's XMinioStorageFull, or a 500 whose message ends "no space left on device"), anything
else `Unavailable` (the store cannot do it now). SeaweedFS answers a write it has no volume for
with a bare 500 InternalError: `may_be_full` says which failed writes the client
(`common.s3.client`) checks with a probe write."""

from __future__ import annotations

from common.errors import Unavailable, storage_full
from common.logging import get_logger
from common.s3.parsing import parse_xml

log = get_logger(__name__)

# S3 error codes (besides HTTP 507) that say the store is out of space
_FULL_CODES = frozenset({"XMinioStorageFull", "InsufficientStorage"})

MISSING_KEY_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound"})


# -- refusals a service acts on (everything else is Unavailable) -------------------------------
class StoreRefused(Exception):
    """The store answered with a client error the service must act on."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class EntityTooSmall(StoreRefused):
    """A part other than the last is under S3's 5 MiB minimum."""


class InvalidPart(StoreRefused):
    """A reported part/ETag does not exist in the store."""


class NoSuchUpload(StoreRefused):
    """The multipart upload id is unknown (completed or aborted)."""


_REFUSALS: dict[str, type[StoreRefused]] = {
    "EntityTooSmall": EntityTooSmall,
    "InvalidPart": InvalidPart,
    "InvalidPartOrder": InvalidPart,
    "NoSuchUpload": NoSuchUpload,
}


def classify(code: str, message: str = "", status: int = 0) -> Exception:
    """The one mapping from an S3 error code to what the services raise."""
    refusal = _REFUSALS.get(code)
    if refusal is not None:
        return refusal(code, message)
    if code in _FULL_CODES or status == 507 or "no space left on device" in message.lower():
        log.warning("s3_storage_full", status=status, code=code, message=message)
        return storage_full()
    log.warning("s3_error", status=status, code=code, message=message)
    return Unavailable(f"the object store refused the request ({code})")



def error_in(status: int, payload: bytes) -> Exception | None:
    """The error an answer carries, or None for a success. S3 may answer CompleteMultipartUpload
    with 200 and an <Error> body (the failure is only known once the parts are joined)."""
    fields = parse_xml(payload)
    if 200 <= status < 300 and "Error" not in fields:
        return None
    code = fields.get("Code") or f"HTTP {status}"
    return classify(code, fields.get("Message", ""), status)


def may_be_full(status: int, code: str) -> bool:
    """A failed write the store may have refused for lack of space without saying so: a bare
    5xx (SeaweedFS: 500 InternalError; 503 is SlowDown, a busy store), or MinIO's IncompleteBody
    (it stops reading a body it has no room for)."""
    return (status >= 500 and status != 503) or code == "IncompleteBody"

