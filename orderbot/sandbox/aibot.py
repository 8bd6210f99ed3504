"""The demo's WeCom AI-bot group: an in-process fake of WeCom (智能机器人, callback mode) that the page talks to.

The demo runs the AI bot for real: the callback door `/wecom/aibot` (webhooks/wecom_aibot.py) on the demo's own
token and key (sandbox/secrets.py), the inbox, the dispatcher behind the AI bot's own events (bot/aibot.py), the
AI-bot sender and its payload builders (messaging/senders/wecom_aibot.py) and, for alerts, the group robot's
消息推送 sender. What is faked is WeCom itself, as tests/fakes/wecom_aibot.py does for the tests:

- a message in an AI-bot group reaches the bot only when it @-mentions the bot (otherwise it is just group chat);
  then the fake sends the encrypted callback WeCom would send (msgid = the page's message id, from.userid = the
  person's WeCom userid, the chatid, the quoted message, a one-time response_url) over HTTP to the door, and
  follows an unfinished stream with a poll a second, as the WeCom client does;
- a card button sends a template_card_event; the bot's update_template_card is what the card then shows (to
  everybody, or only to the `userids` it names);
- `POST /sandbox/wecom/cgi-bin/webhook/send?key=…` is the group's 消息推送 webhook and
  `POST /sandbox/wecom/cgi-bin/aibot/response?response_code=…` the response_url: they take what the bot's
  senders post there (the demo's WECOM_API_BASE points here).

Every JSON the bot answers with goes into the sandbox log as WeCom received it: `kind="aibot"`, payload
`{"via": "stream" | "card_update" | "webhook" | "response_url", "msgid", "body"}`; the page draws it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from orderbot.messaging.senders.sandbox import SandboxSender
from orderbot.webhooks.aibot_crypto import AibotCrypto
from orderbot.webhooks.common import TaskTracker

log = logging.getLogger("orderbot.sandbox.aibot")
PREFIX = "/sandbox/wecom"  # the demo's WECOM_API_BASE
POLL_EVERY = 1.0  # seconds between the WeCom client's stream polls
STREAM_LIFE = 360.0  # WeCom polls a stream for 6 minutes
CODE_LIFE = 3600.0  # a response_url works once, within an hour
WEBHOOK_MARKDOWN_LIMIT = 4096
REMEMBER = 5000  # message ids kept for retries


class PlatformTrouble(Exception):
    """The bot answered WeCom with something WeCom would not take; the reason, in Chinese."""


@dataclass
class FakeWeCom:
    crypto: AibotCrypto
    bot_name: str
    log: SandboxSender
    clock: Any
    chats: dict[str, str]  # AI-bot chatid → the group's key in the business config
    hooks: dict[str, str]  # 消息推送 webhook key → the group's key
    http: aiohttp.ClientSession | None = None
    followers: TaskTracker = field(default_factory=lambda: TaskTracker("sandbox_wecom"))
    seen: OrderedDict[str, dict | None] = field(default_factory=OrderedDict)  # msgid → the callback sent, if any
    codes: dict[str, tuple[float, str]] = field(default_factory=dict)  # response code → (issued, conversation)
    used: set[str] = field(default_factory=set)
    _n: Any = field(default_factory=lambda: itertools.count(1))

    # --- what people do in the group ----------------------------------------------------------------------
    def mentions(self, text: str) -> bool:
        """Whether the message @-mentions the bot (WeCom delivers only those from a group)."""
        return re.search("@" + re.escape(self.bot_name) + r"(?=\s|$|[，,：:])", text) is not None

    async def message(
        self, base: str, *, staff_id: str, userid: str, group: str, text: str, quote: str | None, msgid: str
    ) -> dict[str, Any]:
        """A person's message in the group; what the page is told (accepted / heard / duplicate)."""
        if msgid in self.seen:  # the page sent it again: WeCom would retry its callback, the bot answers once
            body = self.seen[msgid]
            if body is not None:
                await self._post(base, body)
            return {"duplicate": True}
        conv = f"group:{group}"
        echo: dict[str, Any] = {"text": text}
        if quote:
            echo["quote"] = quote
        item = self.log.record_inbound(conv, staff_id, "text", echo)
        if not self.mentions(text):
            self._remember(msgid, None)
            return {"accepted": True, "heard": False, "id": item["id"]}
        body = self._envelope(base, msgid, userid, group, conv)
        body.update({"msgtype": "text", "text": {"content": text}})
        if quote:
            body["quote"] = {"msgtype": "text", "text": {"content": quote}}
        self._remember(msgid, body)
        reply = await self._post(base, body)
        if reply is None:
            raise PlatformTrouble("机器人没有回答这条消息")
        self._record(conv, "stream", msgid, reply)
        if not (reply.get("stream") or {}).get("finish"):
            self.followers.spawn(self._follow(base, conv, msgid, reply))
        return {"accepted": True, "heard": True, "id": item["id"]}

    async def click(
        self, base: str, *, staff_id: str, userid: str, group: str, key: str, task_id: str, button: str, msgid: str
    ) -> dict[str, Any]:
        """A card button: template_card_event; the bot's update_template_card goes to the log."""
        if msgid in self.seen:
            return {"duplicate": True}
        conv = f"group:{group}"
        item = self.log.record_inbound(conv, staff_id, "click", {"button": button, "key": key})
        body = self._envelope(base, msgid, userid, group, conv)
        body.update(
            {
                "msgtype": "event",
                "event": {
                    "eventtype": "template_card_event",
                    "template_card_event": {"card_type": "button_interaction", "event_key": key, "task_id": task_id},
                },
            }
        )
        self._remember(msgid, body)
        reply = await self._post(base, body)
        if reply is not None:  # else the answer comes later, through the response_url
            if reply.get("response_type") != "update_template_card":
                raise PlatformTrouble("卡片点击只能用 update_template_card 回答")
            self._record(conv, "card_update", msgid, reply)
        return {"accepted": True, "id": item["id"]}

    # --- WeCom's side of the conversation with the bot -----------------------------------------------------
    def _envelope(self, base: str, msgid: str, userid: str, group: str, conv: str) -> dict[str, Any]:
        chat = next(c for c, g in self.chats.items() if g == group)
        return {
            "msgid": msgid,
            "create_time": int(self.clock().timestamp()),
            "aibotid": "aibDEMO",
            "chatid": chat,
            "chattype": "group",
            "from": {"userid": userid},
            "response_url": self._mint(base, conv),
        }

    def _remember(self, msgid: str, body: dict | None) -> None:
        self.seen[msgid] = body
        while len(self.seen) > REMEMBER:
            self.seen.popitem(last=False)

    def _mint(self, base: str, conv: str) -> str:
        now = time.monotonic()
        for code in [c for c, (issued, _) in self.codes.items() if now - issued > CODE_LIFE]:
            del self.codes[code]
            self.used.discard(code)
        code = f"rc{next(self._n)}{secrets.token_hex(4)}"
        self.codes[code] = (now, conv)
        return f"{base}{PREFIX}/cgi-bin/aibot/response?response_code={code}"

    async def _post(self, base: str, body: dict) -> dict | None:
        """One encrypted callback to the bot's door; its decrypted answer (None for an empty 200)."""
        if self.http is None:
            raise PlatformTrouble("演示的企业微信还没启动")
        nonce = secrets.token_hex(8)
        query, data = self.crypto.seal_request(body, nonce=nonce, timestamp=str(int(time.time())))
        async with self.http.post(
            f"{base}/wecom/aibot", params=query, data=data, headers={"Content-Type": "application/json"}
        ) as resp:
            status, text = resp.status, await resp.text()
        if status != 200:
            raise PlatformTrouble(f"机器人的回调地址返回 HTTP {status}：{text[:200]}")
        if not text:
            return None
        envelope = json.loads(text)
        if envelope.get("nonce") != nonce:
            raise PlatformTrouble("机器人回复的 nonce 不是回调里的")
        return self.crypto.open_reply(envelope)

    async def _follow(self, base: str, conv: str, msgid: str, first: dict) -> None:
        """Poll an unfinished stream about once a second, as the WeCom client does, until it finishes."""
        sid = first["stream"]["id"]
        last = first["stream"].get("content")
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < STREAM_LIFE:
            await asyncio.sleep(POLL_EVERY)
            poll = {"msgid": f"poll-{next(self._n)}", "aibotid": "aibDEMO", "msgtype": "stream", "stream": {"id": sid}}
            try:
                frame = await self._post(base, poll)
            except (aiohttp.ClientError, PlatformTrouble) as exc:
                log.warning("sandbox WeCom: polling stream %s failed: %s", sid, exc)
                return
            stream = (frame or {}).get("stream") or {}
            if stream.get("finish") or stream.get("content") != last:
                self._record(conv, "stream", msgid, frame)
                last = stream.get("content")
            if stream.get("finish"):
                return
        log.warning("sandbox WeCom: stream %s not finished within 6 minutes", sid)

    def _record(self, conv: str, via: str, msgid: str | None, body: dict) -> None:
        self.log.record(conv, "aibot", {"via": via, "msgid": msgid, "body": body})

    # --- the endpoints the bot's senders call -------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        """The group robot's 消息推送 webhook (`cgi-bin/webhook/send?key=…`)."""
        group = self.hooks.get(request.query.get("key", ""))
        if group is None:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"errcode": 40016, "errmsg": "invalid json"})
        kind = body.get("msgtype") if isinstance(body, dict) else None
        if kind not in ("text", "markdown", "image", "news", "file"):
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
        content = (body.get(kind) or {}).get("content") if kind in ("text", "markdown") else None
        if isinstance(content, str) and len(content.encode()) > WEBHOOK_MARKDOWN_LIMIT:
            return web.json_response({"errcode": 40058, "errmsg": "content exceed max length"})
        self._record(f"group:{group}", "webhook", None, body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def response_url(self, request: web.Request) -> web.Response:
        """The one-time response_url of a message or a click."""
        code = request.query.get("response_code", "")
        if code not in self.codes or code in self.used:
            return web.json_response({"errcode": 40058, "errmsg": "invalid or used response_code"})
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"errcode": 40016, "errmsg": "invalid json"})
        kind = body.get("msgtype") if isinstance(body, dict) else None
        if kind not in ("markdown", "template_card"):
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
        if kind == "template_card":  # cards go through response_url in 1:1 only; the demo's AI bot is in groups
            return web.json_response({"errcode": 40058, "errmsg": "template_card only in single chat"})
        self.used.add(code)
        self._record(self.codes[code][1], "response_url", None, body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # --- start and stop -----------------------------------------------------------------------------------
    async def lifetime(self, app: web.Application):
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        yield
        for task in list(self.followers.tasks):
            task.cancel()
        await self.followers.drain(timeout=5)
        await self.http.close()


def images(body: dict) -> list[dict]:
    """The image items of an AI-bot or webhook message, in order (each `{"base64", "md5"}`)."""
    out = []
    stream = body.get("stream") if isinstance(body.get("stream"), dict) else None
    for item in (stream or {}).get("msg_item") or []:
        if isinstance(item, dict) and isinstance(item.get("image"), dict):
            out.append(item["image"])
    if body.get("msgtype") == "image" and isinstance(body.get("image"), dict):
        out.append(body["image"])
    return out
