"""Local stand-ins for the outside platforms (WeCom, DingTalk, WeChat OA, QWeather …), each an aiohttp app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestServer


@asynccontextmanager
async def serving(fake: Any) -> AsyncIterator[Any]:
    """Run a fake's app on a local port for the block; `fake.base` is then its origin (no trailing slash)."""
    server = TestServer(fake.app())
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
