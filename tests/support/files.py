"""Creating files over the public API (a one-chunk proxy upload), for end-to-end tests."""

from __future__ import annotations

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
