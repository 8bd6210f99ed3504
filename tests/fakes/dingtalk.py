"""A local fake of DingTalk: app tokens, robot OpenAPI sends, session webhooks and the Stream gateway.

Enforces what the real one does: the access token header (401 when missing or stale), 20 messages a minute per
conversation on session webhooks (errcode 130101), and for Stream mode a one-use ticket on the websocket.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque

from aiohttp import WSMsgType, web

from .outage import Outage


class FakeDingTalk:
    def __init__(self, *, app_key: str = "dingkey", app_secret: str = "dingsecret", clock=time.monotonic):
        self.app_key, self.app_secret, self.clock = app_key, app_secret, clock
        self.tokens: set[str] = set()
        self.session_messages: dict[str, list[dict]] = defaultdict(list)
        self.api_messages: list[tuple[str, dict]] = []
        self._session_times: dict[str, deque] = defaultdict(deque)
        self._ids = itertools.count(1)
        self.tickets: set[str] = set()
        self.stream_frames: list[dict] = []  # frames to push once a client connects
        self.acks: list[dict] = []
        self.stream_connected = asyncio.Event()
        self.base = ""
        self.outage = Outage()  # `outage.start("hang" | "500")`, `outage.recover()`

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.outage.middleware])
        app.router.add_post("/v1.0/oauth2/accessToken", self.access_token)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self.api_send)
        app.router.add_post("/v1.0/robot/groupMessages/send", self.api_send)
        app.router.add_post("/robot/sendBySession", self.session_send)
        app.router.add_post("/v1.0/gateway/connections/open", self.open_connection)
        app.router.add_get("/connect", self.websocket)
        return app

    async def access_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
            return web.json_response({"code": "invalidClientIdOrSecret", "message": "bad app"}, status=400)
        token = f"dtok{next(self._ids)}"
        self.tokens.add(token)
        return web.json_response({"accessToken": token, "expireIn": 7200})

    async def api_send(self, request: web.Request) -> web.Response:
        if request.headers.get("x-acs-dingtalk-access-token") not in self.tokens:
            return web.json_response({"code": "InvalidAuthentication", "message": "token invalid"}, status=401)
        body = await request.json()
        json.loads(body["msgParam"])  # must be a JSON string
        self.api_messages.append((request.path, body))
        return web.json_response({"processQueryKey": f"q{next(self._ids)}"})

    async def session_send(self, request: web.Request) -> web.Response:
        session = request.query.get("session", "")
        now = self.clock()
        window = self._session_times[session]
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= 20:
            return web.json_response({"errcode": 130101, "errmsg": "send too fast"})
        window.append(now)
        self.session_messages[session].append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def open_connection(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clientId") != self.app_key or body.get("clientSecret") != self.app_secret:
            return web.json_response({"code": "forbidden"}, status=403)
        ticket = f"ticket{next(self._ids)}"
        self.tickets.add(ticket)
        ws_base = self.base.replace("http://", "ws://")
        return web.json_response({"endpoint": f"{ws_base}/connect", "ticket": ticket})

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ticket = request.query.get("ticket")
        if ticket not in self.tickets:
            raise web.HTTPForbidden()
        self.tickets.discard(ticket)  # one connection per ticket
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.stream_connected.set()
        for frame in self.stream_frames:
            await ws.send_str(json.dumps(frame))
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.acks.append(json.loads(msg.data))
        return ws
