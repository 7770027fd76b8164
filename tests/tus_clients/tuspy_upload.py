"""One upload with tuspy, as its own process (the resume-after-SIGKILL test kills it).
Usage: python tuspy_upload.py ENDPOINT TOKEN FILE NAME CHUNK_BYTES|0 [UPLOAD_URL]
Prints one JSON line per event: {"url"}, {"acknowledged": offset} after each PATCH, then
{"success": true}. TUSPY_CHECKSUM=1: every PATCH with its Upload-Checksum (sha1)."""

import json
import os
import sys

from tusclient import client

endpoint, token, path, name, chunk = sys.argv[1:6]
url = sys.argv[6] if len(sys.argv) > 6 else None
tus = client.TusClient(endpoint, headers={"Authorization": f"Bearer {token}"})
options = {"chunk_size": int(chunk)} if int(chunk) > 0 else {}
uploader = tus.uploader(path, metadata={"filename": name}, url=url,
                        upload_checksum=os.environ.get("TUSPY_CHECKSUM") == "1", **options)
if not uploader.url:
    uploader.set_url(uploader.create_url())
print(json.dumps({"url": uploader.url}), flush=True)
while uploader.offset < uploader.get_file_size():  # type: ignore[no-untyped-call]
    uploader.upload_chunk()  # type: ignore[no-untyped-call]
    print(json.dumps({"acknowledged": uploader.offset}), flush=True)
print(json.dumps({"success": True, "url": uploader.url}), flush=True)
