"""Raw HTTP requests a well-behaved client library will not send: a request head and the first
bytes of its body, then silence (or a hang-up), to see what the server does about it."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


class Silent:
    """A raw HTTP request whose head and first bytes were sent, then nothing more."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.opened = time.monotonic()

    @classmethod
    async def open(cls, base: str, path: str, headers: dict[str, str], length: int,
                   first: bytes) -> Silent:
        url = urlsplit(base)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n{head}"
                     f"Content-Length: {length}\r\n\r\n".encode() + first)
        await writer.drain()
        return cls(reader, writer)

    async def answer(self, within_s: float = 60.0) -> tuple[int, bytes, float]:
        """The status, the body and the seconds since the request went silent; waits for the
        server (a generous bound: a hang fails the test, it does not stall the suite)."""
        try:
            async with asyncio.timeout(within_s):
                head = await self.reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                payload = await self.reader.readexactly(int(fields.get("Content-Length", "0")))
            return int(lines[0].split()[1]), payload, time.monotonic() - self.opened
        finally:
            self.close()

    def close(self) -> None:
        self.writer.close()
