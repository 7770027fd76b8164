"""Schema fuzzing (issue #10): schemathesis generates requests from `/openapi.json` for every
operation — valid ones and, in negative mode, invalid ones — and sends them, authenticated, to the
running stack. A run fails on any 5xx, and on any answer the description does not allow (status
code, content type, body schema, required headers), on a valid request refused, and on an invalid
one accepted. Bounded: 25 valid and 25 invalid examples per operation.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import positive_data_acceptance

from compose import Stack

pytestmark = pytest.mark.fuzz

EXAMPLES_PER_OPERATION = 25
# tus bodies are raw bytes under their own media type
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# Rules no JSON schema can state, answered 400 (413 for a storage quota) with their own code: a
# deployment's limits (maximum file size, recipients per request, the edge's chunk body limit,
# the caller's quota: sessions the fuzzer opens hold their sizes until they expire), one field
# against another (a part size against the file size), and what exists (accounts to share with, the
# session's state, whether an email and password belong together). A schema-valid request
# answered 400 with any other code (INVALID_ARGUMENT, INVALID_JSON) is a description that drifted
# from the server, and fails the run.
RULES_BEYOND_THE_SCHEMA = frozenset({
    "FILE_TOO_LARGE", "PART_OUT_OF_RANGE", "PART_TOO_SMALL", "PART_SIZE_MISMATCH",
    "PART_NOT_UPLOADED", "PARTS_MISSING", "CHUNK_OUT_OF_RANGE", "CHUNK_TOO_LARGE",
    "CHUNK_SIZE_MISMATCH", "CHECKSUM_MISMATCH", "UPLOAD_NOT_ACTIVE", "UNKNOWN_RECIPIENTS",
    "TOO_MANY_RECIPIENTS", "CANNOT_SHARE_WITH_SELF", "INVALID_CREDENTIALS", "QUOTA_EXCEEDED",
    # tus: a length past the maximum or the upload's, Upload-Length vs Upload-Defer-Length,
    # metadata whose filename is not a file name (or not UTF-8)
    "UPLOAD_LENGTH_EXCEEDED", "UPLOAD_LENGTH_MISSING", "UPLOAD_METADATA_INVALID",
})
ACCEPTED = range(200, 400)
# 410 a tus upload gone, 423 another writer, 460 a tus body that does not match its checksum
ALSO_EXPECTED = frozenset({401, 403, 404, 409, 410, 423, 429, 460})


@schemathesis.check
def schema_valid_request_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis's positive_data_acceptance, except for 400s naming a rule in
    RULES_BEYOND_THE_SCHEMA (that check cannot tell them from a description that drifted)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None  # an invalid request: negative_data_rejection judges the answer
    status = response.status_code
    if status in ACCEPTED or status in ALSO_EXPECTED or status >= 500:  # 5xx: its own check
        return None
    code = None
    if status in (400, 413):
        try:
            code = response.json().get("code")
        except ValueError:
            pass
        if code in RULES_BEYOND_THE_SCHEMA:
            return None
    raise AssertionError(f"schema-valid request rejected: {status} {code}: {response.text}")


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        parsed: dict[str, Any] = json.loads(response.read())
        return parsed


@pytest.fixture(scope="session")
def fuzz_token(stack: Stack) -> str:
    tag = uuid.uuid4().hex[:10]
    account = {"username": f"fuzz_{tag}", "email": f"fuzz-{tag}@example.com",
               "password": "fuzzing the api"}
    _post(f"{stack.edge_url}/auth/signup", account)
    login = _post(f"{stack.edge_url}/auth/login",
                  {"email": account["email"], "password": account["password"]})
    return str(login["token"])


def test_every_operation_answers_as_described(stack: Stack, fuzz_token: str) -> None:
    """Each operation in turn, with valid requests, then invalid ones (schemathesis's pytest
    plugin does not run under this pytest, so the operations are driven through Hypothesis
    directly); all failures are reported at once."""
    schema = schemathesis.openapi.from_url(f"{stack.edge_url}/openapi.json")
    # Unknown query parameters and JSON fields are ignored by design (docs/design.md §3: clients of
    # the original send extra fields): adding one does not make a request invalid for this API.
    schema.config.generation.update(allow_extra_parameters=False)
    # An invalid request may also be refused as too large (413, documented on every JSON route):
    # a list of more items than allowed can exceed the body limit before it is read.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413",
                                   # tus: no Content-Length, a protocol version it does not
                                   # speak, a body that is not application/offset+octet-stream
                                   "411", "412", "415"]
    headers = {"Authorization": f"Bearer {fuzz_token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the description is not valid: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def fuzz(case: Any) -> None:
                case.call_and_validate(base_url=stack.edge_url, headers=headers,
                                       excluded_checks=[positive_data_acceptance],
                                       additional_checks=[schema_valid_request_accepted])

            try:
                fuzz()
            except Unsatisfiable:  # no parameters and no body: no request can be invalid
                if mode is not GenerationMode.NEGATIVE:
                    raise
            except (Exception, BaseExceptionGroup) as exc:  # one operation's findings; go on
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value} "
                                f"cases): {exc}")
    assert operations >= 20
    assert failures == [], "\n\n".join(failures)
