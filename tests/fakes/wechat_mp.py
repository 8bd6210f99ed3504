"""A local fake of the WeChat Official Account API: tokens and template messages, with `client_msg_id`
dedupe (10 minutes per openid), 20-character field limits, and 43101 for people who do not follow us."""

from __future__ import annotations

import itertools

from aiohttp import web


class FakeWeChatMp:
    def __init__(self, *, app_id: str = "wxapp", secret: str = "mpsecret"):
        self.app_id, self.secret = app_id, secret
        self.tokens: set[str] = set()
        self.followers: set[str] = set()
        self.sent: list[dict] = []
        self._seen: set[tuple[str, str]] = set()
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/template/send", self.template_send)
        return app

    async def token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("appid") != self.app_id or q.get("secret") != self.secret:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        token = f"mptok{next(self._ids)}"
        self.tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def template_send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token") not in self.tokens:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        body = await request.json()
        if body["touser"] not in self.followers:
            return web.json_response({"errcode": 43101, "errmsg": "user refuse to accept the msg"})
        if any(len(v["value"]) > 20 for v in body["data"].values()):
            return web.json_response({"errcode": 47003, "errmsg": "argument invalid! data.value too long"})
        key = (body["touser"], body.get("client_msg_id", ""))
        if key[1] and key in self._seen:
            return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": 0})  # deduped by WeChat
        self._seen.add(key)
        self.sent.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": next(self._ids)})
