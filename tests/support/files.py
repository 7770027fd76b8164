"""Creating files over the public API (a one-chunk proxy upload, a one-part multipart upload),
for end-to-end tests."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support.users import User


async def upload_file(session: aiohttp.ClientSession, base_url: str, user: User, data: bytes,
                      name: str = "file.bin") -> str:
    """Uploads `data` (at most one chunk) as `user`; returns the new file id. Fails the test on
    any unexpected status."""
    async with session.post(f"{base_url}/api/upload/proxy/session", headers=user.auth,
                            json={"file_name": name, "file_size_bytes": len(data)}) as r:
        assert r.status == 200, await r.text()
        upload = await r.json()
    assert upload["total_chunks"] == 1, "upload_file handles one-chunk files only"
    headers = {**user.auth, "Upload-UUID": upload["upload_uuid"],
               "Content-Type": "application/octet-stream"}
    async with session.post(f"{base_url}/api/upload/proxy/chunk?id=0", headers=headers,
                            data=data) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    assert body.get("status") == "completed", body
    return str(body["file_id"])


async def upload_one_part(session: aiohttp.ClientSession, base_url: str, user: User, data: bytes,
                          name: str = "direct.bin") -> dict[str, Any]:
    """A one-part multipart upload of `data` (< 5 MiB): the part PUT to its presigned URL,
    registered with its ETag, then completed. Returns the complete call's body."""
    async with session.post(f"{base_url}/api/upload/multipart/session", headers=user.auth,
                            json={"file_name": name, "file_size_bytes": len(data),
                                  "part_size_bytes": 5 * 1024 * 1024}) as r:
        assert r.status == 200, await r.text()
        upload = await r.json()
    assert [part["part_number"] for part in upload["parts"]] == [1]
    async with session.put(upload["parts"][0]["url"], data=data) as r:
        assert r.status == 200, await r.text()
        etag = r.headers["ETag"].strip('"')
    async with session.post(f"{base_url}/api/upload/multipart/part", headers=user.auth,
                            json={"upload_uuid": upload["upload_uuid"], "part_number": 1,
                                  "size_bytes": len(data), "etag": etag}) as r:
        assert r.status == 200, await r.text()
    async with session.post(f"{base_url}/api/upload/multipart/complete", headers=user.auth,
                            json={"upload_uuid": upload["upload_uuid"]}) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())
