"""A local fake of the WeCom server API that speaks its JSON and enforces its limits.

gettoken issues tokens that can be expired on demand (42001); message/send, appchat/send, media/upload,
message/update_template_card and the group robot's webhook/send check what the real ones check: token
validity, content byte limits (text 2048, robot markdown 4096 → 40058), image md5 and 2 MB, and 20 robot
messages a minute per key (45009). `untrusted_ip = True` makes app APIs answer 60020.
The robot's `webhook/upload_media?key=…&type=file|voice` takes a multipart `media` of more than 5 bytes and at
most 20 MB (voice 2 MB) and issues a media_id that a `file`/`voice` message to the same key must name; the app's
`message/send` checks a `file` message's media_id like an image's.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
from collections import defaultdict, deque

from aiohttp import web

from .outage import Outage


class FakeWeCom:
    def __init__(
        self, *, corp_id: str = "wwcorp", secret: str = "app-secret", robot_limit: int = 20, clock=time.monotonic
    ):
        self.corp_id, self.secret, self.robot_limit, self.clock = corp_id, secret, robot_limit, clock
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.refused = 0  # robot messages refused with 45009
        self.untrusted_ip = False
        self.messages: list[dict] = []  # app messages accepted
        self.robot_messages: dict[str, list[dict]] = defaultdict(list)
        self.card_updates: list[dict] = []
        self.media: dict[str, bytes] = {}
        self.media_names: dict[str, str] = {}  # media_id → the uploaded file name
        self.webhook_media: dict[str, tuple[str, str, bytes]] = {}  # media_id → (webhook key, file name, content)
        self.fail_next: list[dict] = []  # canned error answers for the next calls
        self.fail_on_call: dict[int, dict] = {}  # canned answers for the n-th app API call (1-based)
        self.app_calls = 0
        self._robot_times: dict[str, deque] = defaultdict(deque)
        self._ids = itertools.count(1)
        self.outage = Outage()  # `outage.start("hang" | "500")`, `outage.recover()`

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=30 * 1024 * 1024, middlewares=[self.outage.middleware])
        app.router.add_get("/cgi-bin/gettoken", self.gettoken)
        app.router.add_post("/cgi-bin/message/send", self.message_send)
        app.router.add_post("/cgi-bin/appchat/send", self.appchat_send)
        app.router.add_post("/cgi-bin/media/upload", self.media_upload)
        app.router.add_post("/cgi-bin/message/update_template_card", self.update_card)
        app.router.add_post("/cgi-bin/webhook/send", self.robot_send)
        app.router.add_post("/cgi-bin/webhook/upload_media", self.robot_upload)
        return app

    @staticmethod
    def _err(code: int, msg: str) -> web.Response:
        return web.json_response({"errcode": code, "errmsg": msg})

    async def gettoken(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if request.query.get("corpid") != self.corp_id or request.query.get("corpsecret") != self.secret:
            return self._err(40001, "invalid credential")
        token = f"tok{next(self._ids)}"
        self.tokens.add(token)
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    def _check_app(self, request: web.Request) -> web.Response | None:
        if self.untrusted_ip:
            return self._err(60020, "not allow to access from your ip")
        token = request.query.get("access_token")
        if not token:
            return self._err(41001, "access_token missing")
        if token not in self.tokens:
            return self._err(42001, "access_token expired")
        self.app_calls += 1
        if self.app_calls in self.fail_on_call:
            return web.json_response(self.fail_on_call[self.app_calls])
        if self.fail_next:
            canned = self.fail_next.pop(0)
            return web.json_response(canned)
        return None

    @staticmethod
    def _content_error(body: dict, limit: int) -> web.Response | None:
        msgtype = body.get("msgtype")
        if msgtype in ("text", "markdown"):
            content = body.get(msgtype, {}).get("content", "")
            if len(content.encode("utf-8")) > limit:
                return FakeWeCom._err(40058, f"{msgtype}.content exceed max length {limit}")
            if not content:
                return FakeWeCom._err(44004, "empty content")
        return None

    async def message_send(self, request: web.Request) -> web.Response:
        if (bad := self._check_app(request)) is not None:
            return bad
        body = await request.json()
        if (bad := self._content_error(body, 2048)) is not None:
            return bad
        if body.get("msgtype") == "template_card":
            card = body["template_card"]
            if not card.get("task_id") or not card.get("button_list"):
                return self._err(40058, "template_card invalid")
        if body.get("msgtype") in ("image", "file") and body[body["msgtype"]]["media_id"] not in self.media:
            return self._err(40007, "invalid media_id")
        self.messages.append(body)
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "msgid": f"m{next(self._ids)}", "response_code": f"rc{next(self._ids)}"}
        )

    async def appchat_send(self, request: web.Request) -> web.Response:
        if (bad := self._check_app(request)) is not None:
            return bad
        body = await request.json()
        if (bad := self._content_error(body, 2048)) is not None:
            return bad
        self.messages.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def media_upload(self, request: web.Request) -> web.Response:
        if (bad := self._check_app(request)) is not None:
            return bad
        reader = await request.multipart()
        part = await reader.next()
        if part is None or part.name != "media":
            return self._err(41005, "media data missing")
        data = await part.read()
        if len(data) <= 5:
            return self._err(40005, "invalid file size")
        media_id = f"media{next(self._ids)}"
        self.media[media_id] = bytes(data)
        self.media_names[media_id] = part.filename or ""
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "",
                "type": request.query.get("type"),
                "media_id": media_id,
                "created_at": str(int(time.time())),
            }
        )

    async def update_card(self, request: web.Request) -> web.Response:
        if (bad := self._check_app(request)) is not None:
            return bad
        body = await request.json()
        if not body.get("response_code"):
            return self._err(40058, "response_code missing")
        if body["response_code"] in {u["response_code"] for u in self.card_updates}:
            return self._err(40129, "response_code has been used")  # once only
        self.card_updates.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def robot_send(self, request: web.Request) -> web.Response:
        key = request.query.get("key", "")
        if not key:
            return self._err(93000, "invalid webhook url")
        now = self.clock()
        window = self._robot_times[key]
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.robot_limit:
            self.refused += 1
            return self._err(45009, "api freq out of limit")
        body = await request.json()
        msgtype = body.get("msgtype")
        if (bad := self._content_error(body, 4096 if msgtype == "markdown" else 2048)) is not None:
            return bad
        if msgtype in ("file", "voice"):
            media = self.webhook_media.get((body.get(msgtype) or {}).get("media_id", ""))
            if media is None or media[0] != key:
                return self._err(40007, "invalid media_id")
        if msgtype == "image":
            raw = base64.b64decode(body["image"]["base64"])
            if hashlib.md5(raw).hexdigest() != body["image"]["md5"]:
                return self._err(40009, "invalid image md5")
            if len(raw) > 2 * 1024 * 1024:
                return self._err(40009, "image size exceeds 2MB")
        window.append(now)
        self.robot_messages[key].append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def robot_upload(self, request: web.Request) -> web.Response:
        key, kind = request.query.get("key", ""), request.query.get("type", "")
        if not key:
            return self._err(93000, "invalid webhook url")
        if kind not in ("file", "voice"):
            return self._err(40004, "invalid media type")
        reader = await request.multipart()
        part = await reader.next()
        if part is None or part.name != "media":
            return self._err(41005, "media data missing")
        data = bytes(await part.read())
        if not 5 < len(data) <= (20 if kind == "file" else 2) * 1024 * 1024:
            return self._err(40005, "invalid file size")
        media_id = f"wmedia{next(self._ids)}"
        self.webhook_media[media_id] = (key, part.filename or "", data)
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "type": kind, "media_id": media_id, "created_at": str(int(time.time()))}
        )
