"""`python -m svc_upload` serves; `python -m svc_upload reap` runs one reaper pass and prints a
JSON summary."""

from __future__ import annotations

import asyncio
import json
import sys

from common.logging import configure_logging
from common.loop import install_event_loop
from svc_upload.config import UploadSettings
from svc_upload.server import reap_once, run


def main(argv: list[str]) -> int:
    settings = UploadSettings.from_env()
    configure_logging("upload", settings.server.log_level)
    if argv[:1] == ["reap"]:
        summary = asyncio.run(reap_once(settings))
        print(json.dumps(summary), flush=True)
        return 0
    if argv:
        print("usage: python -m svc_upload [reap]", file=sys.stderr)
        return 2
    install_event_loop()
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
