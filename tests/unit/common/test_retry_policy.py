"""Which calls a GoVault channel sends again after UNAVAILABLE (or CANCELLED): the unary methods
whose proto marks them NO_SIDE_EFFECTS or IDEMPOTENT (`option idempotency_level`), read from the
descriptors into the service config (common.grpc.client). Every rpc is classified: marked in its
proto, or named here as never repeated (with the reason in the proto's comment)."""

from __future__ import annotations

import json

from google.protobuf.descriptor_pb2 import MethodOptions

from common.grpc.client import SERVICES, retried_methods, service_config

NEVER_REPEATED = {
    "govault.auth.v1.AuthService": {"SignUp", "Refresh"},
    "govault.files.v1.FilesService": {"DeleteFile", "RemoveShare", "CopyFile"},
    "govault.upload.v1.UploadService": {"CreateProxySession", "CreateMultipartSession",
                                        "CreateTusUpload", "WriteTus"},
}
STREAMS = {"govault.upload.v1.UploadService": {"UploadChunk", "WriteTus"}}


def test_every_rpc_is_marked_in_its_proto_or_never_repeated() -> None:
    assert {service.full_name for service in SERVICES} == set(NEVER_REPEATED)
    for service in SERVICES:
        marked = {method.name for method in service.methods
                  if method.GetOptions().idempotency_level != MethodOptions.IDEMPOTENCY_UNKNOWN}
        never = NEVER_REPEATED[service.full_name]
        assert not marked & never, service.full_name
        assert marked | never == set(service.methods_by_name), (
            f"{service.full_name}: give each new rpc an idempotency_level in its proto, or add "
            "it to NEVER_REPEATED with the reason in the proto")


def test_the_channel_repeats_the_marked_unary_methods_only() -> None:
    retried = retried_methods()
    for service in SERVICES:
        names = set(retried[service.full_name])
        streams = STREAMS.get(service.full_name, set())
        assert names == set(service.methods_by_name) - NEVER_REPEATED[service.full_name] - streams
        for name in names:
            method = service.methods_by_name[name]
            assert not method.client_streaming and not method.server_streaming, name
    config = json.loads(service_config())
    listed = {(entry["service"], entry["method"]) for entry in config["methodConfig"][0]["name"]}
    assert listed == {(service, method) for service, methods in retried.items()
                      for method in methods}
    assert config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE",
                                                                         "CANCELLED"]
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": ""}
