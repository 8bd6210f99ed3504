"""A local fake of the WeCom 智能机器人 (AI bot) platform, in both API modes, enforcing the documented limits.

Callback mode (`CallbackDriver`): verifies the URL as WeCom does when it is saved (answered within 1 s), sends
encrypted JSON callbacks to the bot's URL as WeCom does, checks the encrypted reply (signature, our nonce), the 5 s
deadline, what each callback may be answered with, stream content ≤ 20480 bytes, `msg_item` only with finish and
≤ 10 images; follows an unfinished stream with polls until it finishes (6 min at most); records what a person
would see per message.
`ResponseUrls`: the one-time `response_url` endpoint (once, 1 h, markdown ≤ 20480 bytes, template_card 1:1 only).
Long-connection mode (`FakeAibotWs`): subscribe with bot id and secret (853000 otherwise), ping acks, callbacks with
req_ids, respond frames must echo a callback's req_id (846605), a stream is replaced by id (never doubled), 6 min
stream life (846608), `aibot_send_msg` only into conversations that talked to the bot (93006), template cards
pushed 1:1 only, 30 messages a minute and 1000 an hour per conversation shared by replies and pushes (45009; a
stream's later frames and card updates make no new message), card updates and welcomes within 5 s of their
callback (846605 after that: the real code is not documented), no empty markdown (44004); one connection per
bot: a newer subscription sends the older one `disconnected_event` and closes it; `drop()` and
`drop_on_next_answer` (after the frame arrived) and `lose_answer_of_type` (the frame of that msgtype lost on the
way) cut the connection as a network would.
Ratings (both modes): WeCom sends `feedback_event` only for an answer whose first reply carried `feedback.id`;
`CallbackDriver.feedback` and `FakeAibotWs.push_feedback` refuse an id no answer carried.
Uploads (the frame shapes of Tencent's Node SDK): `aibot_upload_media_init` {type, filename, total_size,
total_chunks, md5} → {upload_id}; `aibot_upload_media_chunk` {upload_id, chunk_index (0-based), base64_data};
`aibot_upload_media_finish` {upload_id} → {type, media_id, created_at}. Enforced: chunk ≤ 512 KB before base64,
≤ 100 chunks, every chunk present, size and md5 as announced, session 30 min, file ≤ 20 MB (image/voice 2 MB,
video 10 MB), 30 uploads a minute and 1000 an hour per bot; a `file`/`image`/… message must name a media_id this
fake issued (3 days). What arrived is in `media` (media_id → (filename, bytes)); `drop_on_chunk` cuts the
connection when that many chunks have arrived, as a network would mid-upload.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import time
from collections import defaultdict, deque

import aiohttp
from aiohttp import web

from orderbot.webhooks.aibot_crypto import AibotCrypto, signature

STREAM_LIMIT = 20480
STREAM_LIFE = 360.0
REPLY_DEADLINE = 5.0
VERIFY_DEADLINE = 1.0
CHUNK_LIMIT = 512 * 1024
MAX_CHUNKS = 100
UPLOAD_SESSION = 1800.0
MEDIA_LIFE = 3 * 24 * 3600.0
MEDIA_LIMITS = {"file": 20 * 1024 * 1024, "video": 10 * 1024 * 1024, "image": 2 * 1024 * 1024, "voice": 2 * 1024 * 1024}
UPLOADS_PER = ((30, 60.0), (1000, 3600.0))
MEDIA_TYPES = ("file", "image", "voice", "video")
ALLOWED = {
    "message": {"stream", "template_card", "stream_with_template_card"},
    "stream": {"stream", "stream_with_template_card"},
    "enter_chat": {"text", "template_card"},
    "template_card_event": {"update_template_card"},
    "feedback_event": set(),
}


class PlatformError(AssertionError):
    """The bot did something the real platform refuses."""


def _check_stream(stream: dict, errors: list[str]) -> None:
    if len(stream.get("content", "").encode()) > STREAM_LIMIT:
        errors.append(f"stream content over {STREAM_LIMIT} bytes")
    items = stream.get("msg_item") or []
    if items and not stream.get("finish"):
        errors.append("msg_item on an unfinished stream")
    if len(items) > 10:
        errors.append("more than 10 msg_item images")


class ResponseUrls:
    """`POST /cgi-bin/aibot/response?response_code=…`: each code once, within an hour."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.codes: dict[str, tuple[float, str]] = {}  # code → (issued, chattype)
        self.used: set[str] = set()
        self.received: list[tuple[str, dict]] = []
        self.refused: list[tuple[str, int]] = []
        self._ids = itertools.count(1)
        self.base = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/aibot/response", self.respond)
        return app

    def mint(self, chattype: str) -> str:
        code = f"rc{next(self._ids)}"
        self.codes[code] = (self.clock(), chattype)
        return f"{self.base}/cgi-bin/aibot/response?response_code={code}"

    async def respond(self, request: web.Request) -> web.Response:
        code = request.query.get("response_code", "")
        body = await request.json()

        def refuse(errcode: int, msg: str) -> web.Response:
            self.refused.append((code, errcode))
            return web.json_response({"errcode": errcode, "errmsg": msg})

        if code not in self.codes:
            return refuse(40058, "invalid response_code")
        if code in self.used:
            return refuse(40058, "response_code used")
        issued, chattype = self.codes[code]
        if self.clock() - issued > 3600:
            return refuse(40058, "response_code expired")
        kind = body.get("msgtype")
        if kind == "markdown":
            if len(body["markdown"]["content"].encode()) > STREAM_LIMIT:
                return refuse(40058, "content exceed max length")
        elif kind == "template_card":
            if chattype != "single":
                return refuse(40058, "template_card only in single chat")
        else:
            return refuse(40008, "invalid message type")
        self.used.add(code)
        self.received.append((code, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})


class CallbackDriver:
    """Plays WeCom against the bot's /wecom/aibot over real HTTP."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        crypto: AibotCrypto,
        urls: ResponseUrls,
        *,
        bot_id: str = "aibFAKE",
        poll_interval: float = 0.2,
    ):
        self.http, self.url, self.crypto, self.urls = http, url, crypto, urls
        self.bot_id, self.poll_interval = bot_id, poll_interval
        self.errors: list[str] = []
        self.timings: list[float] = []
        self.seen: dict[str, dict] = {}  # msgid → what the person sees (final stream / card)
        self.rated: dict[str, dict] = {}  # feedback id → the message whose answer carried it (on its first frame)
        self._n = itertools.count(1)

    async def post(
        self, body: dict | str, kind: str = "message", *, raw: bytes | None = None, query: dict | None = None
    ) -> tuple[int, dict | None]:
        nonce = f"n{next(self._n)}"
        q, data = self.crypto.seal_request(body, nonce=nonce, timestamp=str(int(time.time())))
        started = time.perf_counter()
        async with self.http.post(self.url, params=query or q, data=raw if raw is not None else data) as resp:
            status, text = resp.status, await resp.text()
        took = time.perf_counter() - started
        self.timings.append(took)
        if took > REPLY_DEADLINE:
            self.errors.append(f"answered after {took:.1f} s")
        if status != 200 or not text:
            return status, None
        envelope = json.loads(text)
        if envelope.get("nonce") != (query or q)["nonce"]:
            self.errors.append("reply nonce is not the callback's")
        reply = self.crypto.open_reply(envelope)
        kind_of = reply.get("msgtype") or reply.get("response_type")
        if kind_of not in ALLOWED[kind]:
            self.errors.append(f"{kind_of} is not a valid answer to {kind}")
        if "stream" in reply:
            _check_stream(reply["stream"], self.errors)
            fid = (reply["stream"].get("feedback") or {}).get("id")
            if kind == "message" and isinstance(body, dict) and fid:  # honoured on the first reply only
                self.rated.setdefault(fid, body)
        return status, reply

    def feedback(self, msgid: str, feedback_id: str, rating: int, comment: str = "", reasons=()) -> dict:
        """A person rates an answer (👍 1, 👎 2, withdrawn 3): WeCom offers it only for an answer whose first
        reply carried `feedback.id`, so an id never sent cannot be rated."""
        asked = self.rated.get(feedback_id)
        if asked is None:
            raise PlatformError(f"no answer carried feedback id {feedback_id!r}: WeCom sends no feedback_event")
        fb = {"id": feedback_id, "type": rating}
        if rating == 2:
            fb |= {"content": comment, "inaccurate_reason_list": list(reasons)}
        return self.event(msgid, "feedback_event", fb, user=asked["from"]["userid"], chat=asked.get("chatid"))

    async def verify(self, echo: str) -> tuple[int, str]:
        """The URL check WeCom makes when the admin saves the URL: a signed, encrypted `echostr`; the bot must
        answer with the plain text within 1 s (a slower answer is recorded in `errors`)."""
        echostr, ts, nonce = self.crypto.encrypt(echo), str(int(time.time())), f"v{next(self._n)}"
        query = {"msg_signature": signature(self.crypto.token, ts, nonce, echostr), "timestamp": ts, "nonce": nonce}
        started = time.perf_counter()
        async with self.http.get(self.url, params={**query, "echostr": echostr}) as resp:
            status, text = resp.status, await resp.text()
        if time.perf_counter() - started > VERIFY_DEADLINE:
            self.errors.append(f"URL check answered after {time.perf_counter() - started:.1f} s")
        if status == 200 and text != echo:
            self.errors.append(f"URL check answered {text!r}, not the decrypted echostr")
        return status, text

    def message(
        self, msgid: str, msgtype: str, payload: dict, *, user: str, chat: str | None = None, quote: dict | None = None
    ) -> dict:
        chattype = "group" if chat else "single"
        body = {
            "msgid": msgid,
            "aibotid": self.bot_id,
            "chattype": chattype,
            "from": {"userid": user},
            "response_url": self.urls.mint(chattype),
            "msgtype": msgtype,
            msgtype: payload,
        }
        if chat:
            body["chatid"] = chat
        if quote:
            body["quote"] = quote
        return body

    def event(
        self, msgid: str, eventtype: str, payload: dict | None = None, *, user: str, chat: str | None = None
    ) -> dict:
        chattype = "group" if chat else "single"
        body = {
            "msgid": msgid,
            "create_time": int(time.time()),
            "aibotid": self.bot_id,
            "chattype": chattype,
            "from": {"userid": user},
            "msgtype": "event",
            "event": {"eventtype": eventtype, **({eventtype: payload} if payload is not None else {})},
        }
        if chat:
            body["chatid"] = chat
        if eventtype == "template_card_event":
            body["response_url"] = self.urls.mint(chattype)
        return body

    async def ask(self, body: dict, *, window: float = STREAM_LIFE) -> dict:
        """Send a message and follow its stream to the end, as the WeCom client shows it; the final frame."""
        started = time.monotonic()
        status, reply = await self.post(body)
        if status != 200 or reply is None:
            raise PlatformError(f"message answered with HTTP {status} and {reply}")
        while not reply["stream"].get("finish"):
            if time.monotonic() - started > window:
                self.errors.append("stream not finished within 6 minutes")
                break
            await asyncio.sleep(self.poll_interval)
            status, reply = await self.post(
                {
                    "msgid": f"poll{next(self._n)}",
                    "aibotid": self.bot_id,
                    "msgtype": "stream",
                    "stream": {"id": reply["stream"]["id"]},
                },
                "stream",
            )
            if reply is None:
                raise PlatformError(f"stream poll answered with HTTP {status}")
        self.seen[body["msgid"]] = reply
        return reply


class FakeAibotWs:
    """The long-connection server."""

    def __init__(
        self,
        *,
        bot_id: str = "aibFAKE",
        secret: str = "ws-secret",
        per_minute: int = 30,
        per_hour: int = 1000,
        clock=time.monotonic,
    ):
        self.bot_id, self.secret, self.clock = bot_id, secret, clock
        self.per = ((per_minute, 60.0), (per_hour, 3600.0))
        self.sockets: list[web.WebSocketResponse] = []
        self.subscribed = 0
        self.pings = 0
        self.callbacks: dict[str, dict] = {}  # req_id → (body, issued)
        self.issued: dict[str, float] = {}
        self.talked: set[str] = set()  # conversations that messaged the bot
        self.streams: dict[tuple[str, str], dict] = {}  # (req_id, stream id) → latest frame body
        self.frames: list[dict] = []  # every accepted frame body with its cmd and req_id
        self.pushes: list[dict] = []
        self.first_frame: dict[str, float] = {}  # req_id → perf_counter() when its first frame arrived
        self.first_answer: dict[str, float] = {}  # … its first answer frame (not an unfinished "正在查询" stream)
        self.pushed_at: dict[str, float] = {}  # req_id → perf_counter() when its callback was pushed
        self.errors: list[tuple[str, int]] = []
        self.drop_on_next_answer = False
        self.lose_answer_of_type: str | None = None  # cut the connection when such an answer frame is on its way
        self.uploads: dict[str, dict] = {}  # upload_id → the announced file, its chunks and when it began
        self.upload_times: deque[float] = deque()
        self.media: dict[str, tuple[str, bytes]] = {}  # media_id → (filename, content)
        self.media_issued: dict[str, float] = {}
        self.drop_on_chunk: int | None = None  # cut the connection when this many chunks have arrived
        self.chunks_seen = 0
        self.rated: dict[str, str] = {}  # feedback id → the req_id whose answer carried it (on its first frame)
        self.connected = asyncio.Event()
        self._sent: dict[str, deque] = defaultdict(deque)
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.handle)
        return app

    @property
    def ws(self) -> web.WebSocketResponse | None:
        live = [s for s in self.sockets if not s.closed]
        return live[-1] if live else None

    async def drop(self) -> None:
        for s in list(self.sockets):
            await s.close()
        self.connected.clear()

    def _within_limit(self, conversation: str) -> bool:
        """One more message in `conversation` (30 a minute and 1000 an hour, answers and pushes together)?"""
        window = self._sent[conversation]
        now = self.clock()
        while window and now - window[0] >= self.per[-1][1]:
            window.popleft()
        if any(sum(1 for t in window if now - t < per) >= count for count, per in self.per):
            return False
        window.append(now)
        return True

    async def push_callback(self, body: dict, cmd: str = "aibot_msg_callback") -> str:
        """Deliver a callback to the connected bot; its req_id."""
        req_id = f"req{next(self._ids)}"
        self.callbacks[req_id] = body
        self.issued[req_id] = self.clock()
        self.pushed_at[req_id] = time.perf_counter()
        if body.get("msgtype") != "event":  # a message, not a click, opens the conversation for pushes
            self.talked.add(body.get("chatid") or body["from"]["userid"])
        await self.ws.send_str(
            json.dumps({"cmd": cmd, "headers": {"req_id": req_id}, "body": body}, ensure_ascii=False)
        )
        return req_id

    async def push_feedback(self, feedback_id: str, rating: int, comment: str = "", reasons=()) -> str:
        """A person rates an answer: only one whose first frame carried `feedback.id` (PlatformError otherwise)."""
        rid = self.rated.get(feedback_id)
        if rid is None:
            raise PlatformError(f"no answer carried feedback id {feedback_id!r}: WeCom sends no feedback_event")
        asked = self.callbacks[rid]
        fb = {"id": feedback_id, "type": rating}
        if rating == 2:
            fb |= {"content": comment, "inaccurate_reason_list": list(reasons)}
        body = {
            "msgid": f"fb{next(self._ids)}",
            "create_time": int(time.time()),
            "aibotid": self.bot_id,
            "chattype": asked.get("chattype", "single"),
            "from": asked["from"],
            "msgtype": "event",
            "event": {"eventtype": "feedback_event", "feedback_event": fb},
        }
        if asked.get("chatid"):
            body["chatid"] = asked["chatid"]
        return await self.push_callback(body, "aibot_event_callback")

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        subscribed = False
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            cmd, rid, body = frame.get("cmd"), (frame.get("headers") or {}).get("req_id", ""), frame.get("body") or {}

            async def ack(errcode: int = 0, errmsg: str = "ok", cmd=cmd, rid=rid) -> None:
                if errcode:
                    self.errors.append((cmd, errcode))
                await ws.send_str(json.dumps({"headers": {"req_id": rid}, "errcode": errcode, "errmsg": errmsg}))

            if cmd == "aibot_subscribe":
                if body.get("bot_id") != self.bot_id or body.get("secret") != self.secret:
                    await ack(853000, "invalid bot_id or secret")
                    await ws.close()
                    break
                for other in self.sockets:  # one connection per bot: the newer wins, the older is told so
                    if other is not ws and not other.closed:
                        event = {"msgtype": "event", "event": {"eventtype": "disconnected_event"}}
                        await other.send_str(
                            json.dumps({"cmd": "aibot_event_callback", "headers": {"req_id": "disc"}, "body": event})
                        )
                        await other.close()
                subscribed = True
                self.subscribed += 1
                self.connected.set()
                await ack()
                continue
            if not subscribed:
                await ws.close()
                break
            if cmd == "ping":
                self.pings += 1
                await ack()
            elif cmd in ("aibot_upload_media_init", "aibot_upload_media_chunk", "aibot_upload_media_finish"):
                if await self._upload(ws, cmd, rid, body, ack) == "dropped":
                    break
            elif (bad := self._media_error(body)) is not None:
                await ack(*bad)
            elif body.get("msgtype") == "markdown" and not (body.get("markdown") or {}).get("content", "").strip():
                await ack(44004, "empty content")
            elif cmd in ("aibot_respond_msg", "aibot_respond_update_msg", "aibot_respond_welcome_msg"):
                await self._respond(ws, cmd, rid, body, ack)
            elif cmd == "aibot_send_msg":
                conversation = body.get("chatid", "")
                if conversation not in self.talked:
                    await ack(93006, "invalid chatid")
                elif body.get("msgtype") == "template_card" and body.get("chat_type") != 1:
                    await ack(40008, "template_card only to a single chat")
                elif not self._within_limit(conversation):
                    await ack(45009, "api freq out of limit")
                else:
                    self.pushes.append(body)
                    await ack()
            else:
                await ack(40008, f"unknown cmd {cmd}")
        return ws

    def _media_error(self, body: dict) -> tuple[int, str] | None:
        """A media message must name a media_id this platform issued, within its 3 days."""
        kind = body.get("msgtype")
        if kind not in MEDIA_TYPES:
            return None
        media_id = (body.get(kind) or {}).get("media_id")
        if media_id not in self.media or self.clock() - self.media_issued[media_id] > MEDIA_LIFE:
            return 40007, "invalid media_id"
        return None

    def _upload_allowed(self) -> bool:
        now = self.clock()
        while self.upload_times and now - self.upload_times[0] >= UPLOADS_PER[-1][1]:
            self.upload_times.popleft()
        if any(sum(1 for t in self.upload_times if now - t < per) >= count for count, per in UPLOADS_PER):
            return False
        self.upload_times.append(now)
        return True

    async def _upload(self, ws, cmd, rid, body, ack) -> str | None:
        async def answer(result: dict) -> None:
            await ws.send_str(json.dumps({"headers": {"req_id": rid}, "errcode": 0, "errmsg": "ok", "body": result}))

        if cmd == "aibot_upload_media_init":
            kind, size, count = body.get("type"), body.get("total_size"), body.get("total_chunks")
            if kind not in MEDIA_LIMITS or not body.get("filename"):
                return await ack(40008, "invalid media type or filename")
            if not isinstance(size, int) or not 0 < size <= MEDIA_LIMITS[kind]:
                return await ack(40006, "invalid file size")
            if not isinstance(count, int) or not 0 < count <= MAX_CHUNKS or count * CHUNK_LIMIT < size:
                return await ack(40058, "invalid total_chunks")
            if not self._upload_allowed():
                return await ack(45009, "upload freq out of limit")
            upload_id = f"up{next(self._ids)}"
            self.uploads[upload_id] = {**body, "chunks": {}, "began": self.clock()}
            return await answer({"upload_id": upload_id})
        upload = self.uploads.get(body.get("upload_id", ""))
        if upload is None or self.clock() - upload["began"] > UPLOAD_SESSION:
            return await ack(40058, "invalid upload_id")
        if cmd == "aibot_upload_media_chunk":
            index = body.get("chunk_index")
            try:
                data = base64.b64decode(body.get("base64_data", ""), validate=True)
            except ValueError:
                return await ack(40058, "base64_data is not base64")
            if not isinstance(index, int) or not 0 <= index < upload["total_chunks"]:
                return await ack(40058, "invalid chunk_index")
            if not data or len(data) > CHUNK_LIMIT:
                return await ack(40058, "chunk exceeds 512KB")
            upload["chunks"][index] = data
            self.chunks_seen += 1
            if self.drop_on_chunk is not None and self.chunks_seen >= self.drop_on_chunk:
                self.drop_on_chunk = None
                await ws.close()  # recorded, never acknowledged
                return "dropped"
            return await ack()
        if len(upload["chunks"]) != upload["total_chunks"]:
            return await ack(40058, "chunks missing")
        content = b"".join(upload["chunks"][i] for i in range(upload["total_chunks"]))
        if len(content) != upload["total_size"]:
            return await ack(40058, "size differs from total_size")
        if upload.get("md5") and hashlib.md5(content).hexdigest() != upload["md5"]:
            return await ack(40058, "md5 mismatch")
        del self.uploads[body["upload_id"]]
        media_id = f"media{next(self._ids)}"
        self.media[media_id] = (upload["filename"], content)
        self.media_issued[media_id] = self.clock()
        return await answer({"type": upload["type"], "media_id": media_id, "created_at": str(int(time.time()))})

    async def _respond(self, ws, cmd, rid, body, ack) -> None:
        if self.lose_answer_of_type is not None and body.get("msgtype") == self.lose_answer_of_type:
            self.lose_answer_of_type = None
            await ws.close()  # lost on the way: never reached WeCom, never acknowledged
            return
        callback = self.callbacks.get(rid)
        if callback is None:
            await ack(846605, "invalid req_id")
            return
        if self.clock() - self.issued[rid] > 24 * 3600:
            await ack(846605, "req_id expired")
            return
        if cmd != "aibot_respond_msg" and self.clock() - self.issued[rid] > REPLY_DEADLINE:
            await ack(846605, "req_id expired: card updates and welcomes within 5 s")  # the code is our guess
            return
        conversation = callback.get("chatid") or callback["from"]["userid"]
        stream = body.get("stream") if body.get("msgtype") == "stream" else None
        if stream is not None:
            errors: list[str] = []
            _check_stream(stream, errors)
            if errors:
                await ack(40058, "; ".join(errors))
                return
            if self.clock() - self.issued[rid] > STREAM_LIFE:
                await ack(846608, "stream expired")
                return
        key = (rid, stream["id"]) if stream is not None else None
        # A stream's later frames replace it and a card update changes a card: neither is a new message.
        if cmd != "aibot_respond_update_msg" and (key is None or key not in self.streams):
            if not self._within_limit(conversation):
                await ack(45009, "api freq out of limit")
                return
        if key is not None:
            fid = (stream.get("feedback") or {}).get("id")
            if fid and key not in self.streams:  # honoured on the stream's first frame only
                self.rated.setdefault(fid, rid)
            self.streams[key] = stream
        self.frames.append({"cmd": cmd, "req_id": rid, **body})
        self.first_frame.setdefault(rid, time.perf_counter())
        if stream is None or stream.get("finish"):
            self.first_answer.setdefault(rid, time.perf_counter())
        if self.drop_on_next_answer:
            self.drop_on_next_answer = False
            await ws.close()  # recorded, never acknowledged: the bot cannot know it arrived
            return
        await ack()

    def answers(self, req_id: str) -> list[dict]:
        """What the person sees for one callback: each stream once (its latest frame), other messages each."""
        out, seen = [], set()
        for f in self.frames:
            if f["req_id"] != req_id:
                continue
            if f.get("msgtype") == "stream":
                key = f["stream"]["id"]
                if key in seen:
                    continue
                seen.add(key)
                out.append({**f, "stream": self.streams[(req_id, key)]})
            else:
                out.append(f)
        return out
