"""The WeCom AI bot over its long connection (WECOM_AIBOT_MODE=ws): no public URL, pushes allowed.

One WebSocket to WECOM_AIBOT_WS_URL (aiohttp's client; Tencent's SDKs are Node, or Python packages of unverified
origin): `aibot_subscribe` with the bot id and secret, a `ping` every `heartbeat` seconds (two missed acks drop
the link), reconnect with exponential back-off (1 s → 30 s; back to 1 s only after a link that held `healthy_after`
seconds). WeCom allows one connection per bot: a newer one takes over and the older gets `disconnected_event`.
A link taken over does not fight back: it waits `takeover_backoff` (5 min, doubling up to 1 h) before it
subscribes again, logs why, and raises a platform problem (`/healthz` "platforms", one email to the admins)
that clears once a link of its own has held twice the longest wait. Callbacks (`aibot_msg_callback`,
`aibot_event_callback`) become the same inbound values as in callback mode and enter the same pipeline (the
inbox dedupes a callback WeCom pushes again after a reconnect); answers leave through the outbox and
`request()`, which echoes the callback's req_id and waits for WeCom's ack; an answer not ready within callback
mode's `ONE_GO` first shows an unfinished stream ("正在查询…"), finished later under the same stream id. A send
while the link is down fails retryably, so the outbox sends it again after the reconnect, after the frames WeCom
acknowledged (the row's progress; a stream keeps its id: replaced, never doubled).
`upload()` puts a file on WeCom as temporary media (`aibot_upload_media_init` → `_chunk` × n → `_finish`, the
frame shapes of Tencent's Node SDK): chunks of ≤ 512 KB before base64, ≤ 100 of them, a file ≤ 20 MB; the
media_id it returns is sent as a `file` message and lives 3 days.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp

from orderbot.messaging.inbound import CardAction, ChatMessage, EnterAgent, Feedback
from orderbot.messaging.pipeline import InboundPipeline, PassiveAnswer
from orderbot.messaging.senders.base import SendError
from orderbot.webhooks.aibot_msg import BadMessage, StreamPoll, Unreadable, to_event
from orderbot.webhooks.common import TaskTracker
from orderbot.webhooks.wecom_aibot import ONE_GO, UNREADABLE

log = logging.getLogger("orderbot.wecom_aibot.ws")
ACK_TIMEOUT = 5.0
# An answer sent straight back is held this long before the outbox may send it instead: longer than its frames'
# acks can take (ACK_TIMEOUT each), short enough that an answer lost with a dying process still arrives.
HOLD = timedelta(seconds=60)
BACKOFF = (1.0, 30.0)
TAKEOVER_BACKOFF = (300.0, 3600.0)  # seconds a link taken over by another connection waits before it retakes
HEALTHY_AFTER = 60.0  # seconds a link must hold before the reconnect back-off starts over
# Seconds the outbox waits before it sends again a frame the link could not take (down, cut, unacknowledged): a
# dropped link is usually back within the first back-off step (BACKOFF[0]).
RETRY_DOWN = 2.0
TAKEN_OVER = (
    "智能机器人长连接被同一机器人的另一个连接接管（是否有另一个 orderbot serve 用着同一个 WECOM_AIBOT_ID？"
    "企业微信每个机器人只允许一个长连接）。本进程暂不重连，等待时间逐次加倍；请只保留一个进程连接这个机器人"
)
CHUNK = 512 * 1024  # bytes of a file per upload chunk, before base64
MAX_CHUNKS = 100
MB = 1024 * 1024
UPLOAD_LIMITS = {"file": 20 * MB, "video": 10 * MB, "image": 2 * MB, "voice": 2 * MB}


class AibotWsClient:
    def __init__(
        self,
        *,
        url: str,
        bot_id: str,
        secret: str,
        pipeline: InboundPipeline,
        http,
        clock: Callable[[], datetime],
        bot_name: str = "",
        heartbeat: float = 30.0,
        backoff: tuple[float, float] = BACKOFF,
        takeover_backoff: tuple[float, float] = TAKEOVER_BACKOFF,
        healthy_after: float = HEALTHY_AFTER,
        retry_down: float = RETRY_DOWN,
        alerts=None,
    ):
        """`alerts`: the app's `PlatformAlerts` (a takeover is reported there, as channel "wecom_aibot_ws")."""
        self.url, self.bot_id, self._secret = url, bot_id, secret
        self.pipeline, self.http, self.clock, self.bot_name = pipeline, http, clock, bot_name
        self.heartbeat, self.backoff = heartbeat, backoff
        self.takeover_backoff, self.healthy_after, self.alerts = takeover_backoff, healthy_after, alerts
        self.retry_down = retry_down
        self.connected = asyncio.Event()
        self.connections = 0  # successful subscriptions, for tests and /metrics
        self.takeovers = 0  # times another connection of the same bot took the link over
        self._taken_over = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[str, asyncio.Future] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.background = TaskTracker("wecom_aibot_ws")
        self.sender = None  # the AI-bot sender: answers go straight back through it (set by the app)

    # --- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run_forever())

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.background.drain()

    async def _run_forever(self) -> None:
        delay, standby = self.backoff[0], self.takeover_backoff[0]
        while not self._stopping:
            self._taken_over = False
            since: float | None = None
            try:
                since = await self._session()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("AI bot long connection failed: %s", type(exc).__name__)
            except SendError as exc:
                log.error("AI bot long connection refused: %s", exc)
            finally:
                self._down()
            if self._stopping:
                return
            held = time.monotonic() - since if since is not None else 0.0
            if held >= self.healthy_after:
                delay = self.backoff[0]  # it was up for a while: start over with a short wait
            if held >= 2 * self.takeover_backoff[1]:
                standby = self.takeover_backoff[0]
                if self.alerts is not None:
                    self.alerts.clear("wecom_aibot_ws")
            if self._taken_over:
                self.takeovers += 1
                log.error(
                    "AI bot long connection taken over by another connection of the same bot: "
                    "not reconnecting for %.0f s",
                    standby,
                )
                if self.alerts is not None:
                    await self.alerts.raise_("wecom_aibot_ws", TAKEN_OVER)
                wait, standby = standby, min(standby * 2, self.takeover_backoff[1])
            else:
                wait, delay = delay, min(delay * 2, self.backoff[1])
            await asyncio.sleep(wait)

    async def _session(self) -> float | None:
        """One connection: subscribe, then read until it ends. When the subscription succeeded (monotonic s)."""
        async with self.http.ws_connect(self.url, heartbeat=None, autoping=True) as ws:
            self._ws = ws
            reader = asyncio.ensure_future(self._read(ws))
            try:
                ack = await self._send_wait("aibot_subscribe", {"bot_id": self.bot_id, "secret": self._secret})
                del ack
                since = time.monotonic()
                self.connections += 1
                self.connected.set()
                log.info("AI bot long connection subscribed")
                pinger = asyncio.ensure_future(self._ping(ws))
                try:
                    await reader
                finally:
                    pinger.cancel()
                    await asyncio.gather(pinger, return_exceptions=True)
                return since
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    def _down(self) -> None:
        self.connected.clear()
        self._ws = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(SendError("智能机器人长连接已断开，稍后重发", retry_after=self.retry_down))
        self._pending.clear()

    async def _ping(self, ws) -> None:
        missed = 0
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await self._send_wait("ping", {})
                missed = 0
            except SendError:
                missed += 1
                if missed >= 2:
                    log.warning("AI bot long connection: two heartbeats unanswered, reconnecting")
                    await ws.close()
                    return

    # --- frames ---------------------------------------------------------------------------------------------
    async def request(self, cmd: str, body: dict, *, req_id: str | None = None) -> dict:
        """Send one frame and wait for WeCom's ack; frames answering the same req_id go one at a time."""
        if not self.connected.is_set():
            raise SendError("智能机器人长连接未连上，稍后重发", retry_after=self.retry_down)
        if req_id is None:
            return await self._send_wait(cmd, body)
        if len(self._locks) > 10_000:  # req_ids answered long ago
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        async with self._locks.setdefault(req_id, asyncio.Lock()):
            return await self._send_wait(cmd, body, req_id=req_id)

    async def upload(self, content: bytes, filename: str, media_type: str = "file") -> str:
        """Upload `content` as temporary media in chunks; its media_id. A file over the platform's limit is
        refused before anything is sent (permanently: it can never fit); a dropped link fails retryably, and the
        next attempt starts a new upload (WeCom forgets an unfinished one after 30 minutes)."""
        limit = UPLOAD_LIMITS[media_type]
        if not 0 < len(content) <= limit:
            raise SendError(
                f"文件 {filename} 有 {len(content)} 字节：智能机器人上传的 {media_type} 须在 1 字节到 {limit // MB} MB",
                permanent=True,
            )
        chunks = [content[i : i + CHUNK] for i in range(0, len(content), CHUNK)]
        if len(chunks) > MAX_CHUNKS:  # cannot happen within the limits above; kept as the platform's own rule
            raise SendError(f"文件 {filename} 超过 {MAX_CHUNKS} 个分片", permanent=True)
        init = await self.request(
            "aibot_upload_media_init",
            {
                "type": media_type,
                "filename": filename,
                "total_size": len(content),
                "total_chunks": len(chunks),
                "md5": hashlib.md5(content).hexdigest(),
            },
        )
        upload_id = (init.get("body") or {}).get("upload_id")
        if not upload_id:
            raise SendError("智能机器人上传初始化没有返回 upload_id", retry_after=5)
        for index, chunk in enumerate(chunks):  # 0-based, as the SDK sends them
            await self.request(
                "aibot_upload_media_chunk",
                {"upload_id": upload_id, "chunk_index": index, "base64_data": base64.b64encode(chunk).decode()},
            )
        done = await self.request("aibot_upload_media_finish", {"upload_id": upload_id})
        media_id = (done.get("body") or {}).get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise SendError("智能机器人上传完成后没有返回 media_id", retry_after=5)
        return media_id

    async def _send_wait(self, cmd: str, body: dict, *, req_id: str | None = None) -> dict:
        ws = self._ws
        if ws is None or ws.closed:
            raise SendError("智能机器人长连接已断开，稍后重发", retry_after=self.retry_down)
        rid = req_id or f"{cmd}_{uuid.uuid4().hex[:16]}"
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await ws.send_str(json.dumps({"cmd": cmd, "headers": {"req_id": rid}, "body": body}, ensure_ascii=False))
            ack = await asyncio.wait_for(fut, ACK_TIMEOUT)
        except (ConnectionResetError, aiohttp.ClientError) as exc:
            raise SendError(f"智能机器人长连接发送失败：{type(exc).__name__}", retry_after=self.retry_down) from exc
        except TimeoutError:
            raise SendError("智能机器人长连接 5 秒内没有确认", retry_after=self.retry_down) from None
        finally:
            if self._pending.get(rid) is fut:
                del self._pending[rid]
        code = ack.get("errcode", 0)
        if code:
            retry = code in (-1, 45009, 846607)
            raise SendError(
                f"智能机器人返回错误 {code}：{ack.get('errmsg', '')}",
                code=code,
                retry_after=60 if retry else None,
                permanent=not retry,
            )
        return ack

    async def _read(self, ws) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    return
                continue
            try:
                frame = json.loads(msg.data)
                rid = (frame.get("headers") or {}).get("req_id") or ""
            except (json.JSONDecodeError, AttributeError):
                log.warning("AI bot long connection: a frame that is not JSON was ignored")
                continue
            cmd = frame.get("cmd")
            if not cmd:  # an ack of one of ours
                fut = self._pending.get(rid)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
                continue
            if cmd in ("aibot_msg_callback", "aibot_event_callback"):
                body = frame.get("body") or {}
                if ((body.get("event") or {}).get("eventtype")) == "disconnected_event":
                    self._taken_over = True  # WeCom closes this link next: another one subscribed
                    return
                self.background.spawn(self._callback(body, rid))

    async def _callback(self, body: dict, req_id: str) -> None:
        try:
            event = to_event(body, mode="ws", received=self.clock(), bot_name=self.bot_name, req_id=req_id)
        except BadMessage as exc:
            log.warning("AI bot long connection: bad callback ignored: %s", exc)
            return
        if isinstance(event, Unreadable):
            await self.request(
                "aibot_respond_msg",
                {
                    "msgtype": "stream",
                    "stream": {"id": event.stream_id, "finish": True, "content": UNREADABLE[event.kind]},
                },
                req_id=req_id,
            )
            return
        if event is None or isinstance(event, StreamPoll):
            return
        inbox_id = await self.pipeline.accept(event)
        if inbox_id is None:
            return  # pushed again after a reconnect: answered (or being answered) already
        if self.sender is None or isinstance(event, Feedback):
            self.pipeline.schedule(inbox_id, event)
            return
        # The answer goes straight back on this connection. Its row is held (pending, due only after HOLD) in the
        # transaction that made it and stored as sent once WeCom answered the frame; if sending fails (the link
        # dropped), it is due at once, with the frames WeCom acknowledged recorded in the row, and the outbox sends
        # the rest after the reconnect; if this process dies in between, the outbox sends it whole when the hold
        # ends (the stream keeps its id: replaced, never doubled).
        answer = PassiveAnswer(lambda reply: True, hold=HOLD)
        urgent = isinstance(event, (CardAction, EnterAgent))  # WeCom waits 5 s for these
        work = asyncio.ensure_future(self.pipeline.run(inbox_id, event, urgent=urgent, answer=answer))
        shown = False
        if isinstance(event, ChatMessage):  # not ready as fast as callback mode answers at once: say we are on it
            done, _ = await asyncio.wait([work], timeout=ONE_GO)
            shown = not done and await self.sender.placeholder(event.origin.reply_to, dict(event.origin.reply_route))
        try:
            processed = await work
        except Exception:  # recorded as failed, and the person told, by the pipeline
            return
        if processed is None or not processed.passive or processed.reply is None:
            if shown and (processed is None or processed.reply is None):  # nothing to say: end what we showed
                await self.sender.placeholder(event.origin.reply_to, dict(event.origin.reply_route), finish=True)
            return
        payload = {**processed.reply.to_dict(), "_route": dict(event.origin.reply_route)}
        progress: dict = {}  # the frames WeCom acknowledged: a resend by the outbox starts after them
        try:
            await self.sender.send(event.origin.reply_to, "reply", payload, progress)
        except SendError as exc:
            log.info("AI bot answer to %s goes through the outbox: %s", event.origin.reply_to, exc)
            await self.pipeline.reopen_reply(processed.outbox_id, progress)
            return
        await self.pipeline.confirm_sent(processed.outbox_id)
