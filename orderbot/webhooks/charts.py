"""`GET /charts/{token}.png`: chart images for DingTalk markdown, by signed and expiring link only."""

from __future__ import annotations

from aiohttp import web

from orderbot.messaging.links import MediaLinks
from orderbot.core import media
from orderbot.webhooks.common import CLOCK, DB

LINKS = web.AppKey("media_links", MediaLinks)


async def chart(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    media_id = request.app[LINKS].verify(request.match_info["token"], now)
    if media_id is None:
        return web.Response(status=403, text="invalid or expired link")
    async with request.app[DB].read() as session:
        found = await media.fetch(session, media_id, now)
    if found is None:
        return web.Response(status=404, text="not found")
    content, mime = found
    return web.Response(
        body=content,
        content_type=mime,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


def setup(app: web.Application, links: MediaLinks) -> None:
    app[LINKS] = links
    app.router.add_get("/charts/{token}.png", chart)
