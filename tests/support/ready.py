"""Watching the edge's `/ready` while a test does something to the stack."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp


async def watch_ready(http: aiohttp.ClientSession, base: str, stop: asyncio.Event,
                      seen: Counter[int]) -> None:
    """Counts `/ready`'s statuses, twice a second, until `stop`."""
    while not stop.is_set():
        async with http.get(f"{base}/ready") as response:
            seen[response.status] += 1
        await asyncio.sleep(0.5)
