"""An outage for a fake platform: it hangs (answers nothing until released) or answers HTTP 500 with an HTML page,
as a platform's overloaded gateway does. Install `Outage.middleware` on the fake's app; `mode` switches it."""

from __future__ import annotations

import asyncio

from aiohttp import web


class Outage:
    def __init__(self) -> None:
        self.mode: str | None = None  # None (healthy), "hang" or "500"
        self.hanging = 0  # requests held right now
        self.refused = 0  # requests answered 500 (or released unanswered after a hang)
        self._released = asyncio.Event()

    def start(self, mode: str) -> None:
        self.mode = mode
        self._released = asyncio.Event()

    def recover(self) -> None:
        """Healthy again; a request still hanging is answered 503 (the caller gave up on it long ago)."""
        self.mode = None
        self._released.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        if self.mode == "hang":
            self.hanging += 1
            try:
                await self._released.wait()
            finally:
                self.hanging -= 1
            self.refused += 1
            return web.Response(status=503, text="<html>gateway timeout</html>", content_type="text/html")
        if self.mode == "500":
            self.refused += 1
            return web.Response(status=500, text="<html>500 Internal Server Error</html>", content_type="text/html")
        return await handler(request)
