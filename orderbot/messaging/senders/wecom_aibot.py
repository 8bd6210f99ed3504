"""WeCom AI bot outbound: answers to messages, card clicks and welcomes, and pushes, in both API modes.

Rendering keeps every word: the stream carries the whole markdown (text, table, card fields; ≤ 20480 bytes a
frame, the rest in further frames or the response_url) with up to 10 chart images, and a card with buttons
carries the buttons and a summary. A click is answered with `update_template_card` showing who did what.

Callback mode: a late answer is handed to the open stream (`StreamStore`) and counts as sent once WeCom's poll
has carried it out; otherwise it goes once through the message's `response_url` (markdown; a card only in 1:1).
A push to a group (an alert) is impossible in callback mode: it goes through the group's 消息推送 webhook.
Long-connection mode: `aibot_respond_msg` / `aibot_respond_update_msg` / `aibot_respond_welcome_msg` echo the
callback's req_id, the stream keeps its id (a resend after a dropped connection replaces, never doubles) and
`aibot_send_msg` pushes markdown into chats that have talked to the bot, 30 a minute per chat.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from typing import Any, Protocol

import aiohttp

from orderbot.messaging.png import shrink_png
from orderbot.messaging.reply import Reply
from orderbot.messaging.aibot_streams import StreamStore
from orderbot.messaging.senders.base import Limit, SendError
from orderbot.messaging.text import reply_markdown, reply_plain, split_utf8

STREAM_LIMIT = 20480  # bytes of markdown in a stream frame or a response_url message
MAX_IMAGES = 10
IMAGE_LIMIT = 10 * 1024 * 1024
POLL_WAIT = 8.0  # seconds an answer waits in the open stream for WeCom's next poll
DONE_KEY = "noop:done"
EXPIRED = 846608  # stream older than 6 min
NOT_ALLOWED = (93006,)  # invalid chatid: nobody has talked to the bot there


class WsLink(Protocol):
    """The long connection as the sender sees it (`AibotWsClient`)."""

    async def request(self, cmd: str, body: dict, *, req_id: str | None = None) -> dict: ...


def task_id_for(card_task: str | None, seed: str) -> str:
    """WeCom task ids: ≤128 bytes of [0-9A-Za-z_-@], unique per bot."""
    if card_task:
        clean = re.sub(r"[^0-9A-Za-z_\-@]", "_", card_task)[:128]
        if clean:
            return clean
    return "t" + hashlib.sha1(seed.encode()).hexdigest()[:32]


def files_note(reply: Reply) -> str:
    """The AI bot's answers carry no files (uploads exist only on the long connection, not wired yet): say so
    rather than drop them silently."""
    if not reply.files:
        return ""
    names = "、".join(f.filename for f in reply.files)
    return f"（附件 {names} 无法经智能机器人发送：请在企业微信应用里发同样的话，或联系管理员导出）"


def markdown_parts(reply: Reply) -> list[str]:
    text = reply_markdown(reply) or reply_plain(reply)
    if reply.files:
        text += "\n\n" + files_note(reply)
    if reply.mentions:
        text += "\n" + " ".join(f"<@{m}>" for m in reply.mentions)
    return split_utf8(text, STREAM_LIMIT) if text else [""]


def images(reply: Reply) -> list[dict]:
    out = []
    for chart in reply.charts[:MAX_IMAGES]:
        png = shrink_png(chart.png, IMAGE_LIMIT)
        out.append(
            {
                "msgtype": "image",
                "image": {"base64": base64.b64encode(png).decode(), "md5": hashlib.md5(png).hexdigest()},
            }
        )
    return out


def summary(reply: Reply) -> str:
    """The card's subtitle: the first line of the text, the full text having gone in the stream."""
    first = (reply.text or "").strip().split("\n", 1)[0]
    return first[:60] + ("…" if len(first) > 60 else "")


def template_card(reply: Reply, seed: str) -> dict | None:
    """A button card for a reply with buttons (None without)."""
    card = reply.card
    if card is None or not card.buttons:
        return None
    body: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": card.title[:36], "desc": card.description[:44]},
        "task_id": task_id_for(card.task_id, seed),
        "button_list": [{"text": b.text[:10], "style": b.style, "key": b.key[:1024]} for b in card.buttons[:6]],
    }
    if card.fields:
        body["horizontal_content_list"] = [{"keyname": k[:10], "value": str(v)[:30]} for k, v in card.fields[:6]]
    if sub := summary(reply):
        body["sub_title_text"] = sub
    return body


def card_update(reply: Reply, task_id: str, user: str, sent: dict | None) -> dict:
    """The answer to a click: the card as sent with who did what. A refused click (no `subject` in the reply's
    meta) changes the card only for the person who clicked; an accepted one for everybody, its buttons replaced
    by the reply's own (e.g. 撤销) or by a spent 已处理."""
    done = bool(reply.meta.get("subject"))
    text = "\n".join(x for x in (reply_plain(reply), files_note(reply)) if x)
    base = (
        dict(sent)
        if sent
        else {"card_type": "button_interaction", "main_title": {"title": (reply.title or text.split("\n", 1)[0])[:36]}}
    )
    base["card_type"] = "button_interaction"
    base["task_id"] = task_id
    base["sub_title_text"] = text[:112]
    if done:
        card = reply.card
        if card is not None and card.buttons:
            base["button_list"] = [
                {"text": b.text[:10], "style": b.style, "key": b.key[:1024]} for b in card.buttons[:6]
            ]
        else:
            base["button_list"] = [{"text": "已处理", "style": 2, "key": DONE_KEY}]
    elif "button_list" not in base:
        base["button_list"] = [{"text": "已处理", "style": 2, "key": DONE_KEY}]
    out: dict[str, Any] = {"response_type": "update_template_card", "template_card": base}
    if not done:
        out["userids"] = [user]
    return out


def stream_reply(reply: Reply, sid: str, seed: str) -> tuple[dict, dict | None, list[str]]:
    """(finished stream body, the template card or None, markdown parts that did not fit the stream)."""
    parts = markdown_parts(reply)
    body: dict[str, Any] = {"id": sid, "finish": True, "content": parts[0]}
    if reply.charts:
        body["msg_item"] = images(reply)
    return body, template_card(reply, seed), parts[1:]


def fits_stream(reply: Reply) -> bool:
    return len(markdown_parts(reply)) == 1 and len(reply.charts) <= MAX_IMAGES


class AibotSender:
    channel = "wecom_aibot"

    def __init__(
        self,
        http,
        *,
        mode: str,
        streams: StreamStore | None = None,
        ws: WsLink | None = None,
        fallback=None,
        group_webhooks: dict[str, str] | None = None,
    ):
        """`fallback`: the group robot sender, for pushes to a group the bot may not push to;
        `group_webhooks`: AI-bot chat id → that group's 消息推送 webhook key (from the business config)."""
        self.http, self.mode, self.streams, self.ws = http, mode, streams or StreamStore(), ws
        self.fallback, self.group_webhooks = fallback, group_webhooks or {}

    def limit_for(self, destination: str) -> Limit | None:
        return Limit(30, 60) if self.mode == "ws" else None

    async def send(self, destination: str, kind: str, payload: dict, progress: dict) -> str | None:
        reply = Reply.from_dict(payload)
        route = payload.get("_route") or {}
        if kind == "card_update" or route.get("kind") == "card":
            return await self._card(route, reply)
        if route.get("kind") == "welcome":
            return await self._welcome(route, reply)
        if route.get("kind") == "msg":
            return await self._answer(destination, route, reply, progress)
        return await self._push(destination, reply, progress)

    # --- answers to a message ------------------------------------------------------------------------------
    async def _answer(self, destination: str, route: dict, reply: Reply, progress: dict) -> str | None:
        sid = route.get("stream") or "s"
        body, card, rest = stream_reply(reply, sid, f"{destination}:{sid}")
        if card is not None:
            self.streams.remember_card(card["task_id"], card)
        if route.get("mode", self.mode) == "ws":  # the mode the message came in, not the one we run in now
            return await self._ws_answer(destination, route, body, card, rest, progress)
        if not progress.get("stream") and self.streams.live(sid):
            taken = self.streams.finish(sid, body, {"template_card": card} if card else None)
            try:
                await asyncio.wait_for(asyncio.shield(taken), POLL_WAIT)
                progress["stream"] = True
            except TimeoutError:
                pass  # WeCom stopped polling: the response_url below
        if progress.get("stream"):
            if not rest:
                return None
            await self._response_url(
                route, {"msgtype": "markdown", "markdown": {"content": "\n".join(rest)[:STREAM_LIMIT]}}
            )
            return "续篇经 response_url 发送"
        text = "\n".join([body["content"], *rest])
        if reply.charts:
            text += f"\n\n（另有 {len(reply.charts)} 张图表，请在对话中重新提问查看）"
        parts = split_utf8(text, STREAM_LIMIT)
        await self._response_url(route, {"msgtype": "markdown", "markdown": {"content": parts[0]}})
        return "经 response_url 发送" + (f"，超长部分（{len(parts) - 1} 段）无法再发" if len(parts) > 1 else "")

    async def _ws_answer(self, destination, route, body, card, rest, progress) -> str | None:
        req_id = route.get("req_id")
        if not req_id:
            raise SendError("长连接回复缺少 req_id", permanent=True)
        steps: list[tuple[str, dict]] = [("aibot_respond_msg", {"msgtype": "stream", "stream": body})]
        steps += [("aibot_respond_msg", {"msgtype": "markdown", "markdown": {"content": p}}) for p in rest]
        if card is not None:
            steps.append(("aibot_respond_msg", {"msgtype": "template_card", "template_card": card}))
        for i, (cmd, frame) in enumerate(steps):
            if i < progress.get("done", 0):
                continue
            try:
                await self._ws(cmd, frame, req_id=req_id)
            except SendError as exc:
                if exc.code != EXPIRED:
                    raise
                # the stream is older than 6 min: push the same content instead
                await self._ws(
                    "aibot_send_msg",
                    {
                        "chatid": destination.partition(":")[2],
                        "chat_type": 2 if destination.startswith("chat:") else 1,
                        "msgtype": "markdown",
                        "markdown": {"content": frame.get("stream", frame.get("markdown", {})).get("content", "")},
                    },
                )
            progress["done"] = i + 1
        return None

    # --- card clicks and welcomes ----------------------------------------------------------------------------
    async def _card(self, route: dict, reply: Reply) -> str | None:
        task = route.get("task_id", "")
        if route.get("mode", self.mode) == "ws" and route.get("req_id"):
            update = card_update(reply, task, route.get("user", ""), self.streams.cards.get(task))
            await self._ws("aibot_respond_update_msg", update, req_id=route["req_id"])
            return None
        await self._response_url(route, {"msgtype": "markdown", "markdown": {"content": markdown_parts(reply)[0]}})
        return "点击结果经 response_url 发送"

    async def _welcome(self, route: dict, reply: Reply) -> str | None:
        if route.get("mode", self.mode) == "ws" and route.get("req_id"):
            await self._ws(
                "aibot_respond_welcome_msg",
                {"msgtype": "text", "text": {"content": reply_plain(reply)[:2000]}},
                req_id=route["req_id"],
            )
            return None
        raise SendError("欢迎语没能在进入会话的回调里及时回复，企业微信不允许事后补发", permanent=True)

    # --- pushes (alerts, reports) ----------------------------------------------------------------------------
    async def _push(self, destination: str, reply: Reply, progress: dict) -> str | None:
        kind, _, target = destination.partition(":")
        if self.mode == "ws" and self.ws is not None and not progress.get("fallback"):
            parts = markdown_parts(reply)
            card = (
                template_card(reply, f"{destination}:{hashlib.sha1(reply.text.encode()).hexdigest()}")
                if kind == "user"
                else None
            )
            steps = [{"msgtype": "markdown", "markdown": {"content": p}} for p in parts]
            if card is not None:  # template cards may be pushed 1:1 only
                self.streams.remember_card(card["task_id"], card)
                steps.append({"msgtype": "template_card", "template_card": card})
            try:
                for i, step in enumerate(steps):
                    if i < progress.get("done", 0):
                        continue
                    await self._ws(
                        "aibot_send_msg", {"chatid": target, "chat_type": 2 if kind == "chat" else 1, **step}
                    )
                    progress["done"] = i + 1
                return None
            except SendError as exc:
                if exc.code not in NOT_ALLOWED or kind != "chat":
                    raise
                progress["fallback"] = True  # nobody has talked to the bot there yet
        key = self.group_webhooks.get(target) if kind == "chat" else None
        if key is None or self.fallback is None:
            raise SendError(
                "智能机器人不能主动推送到这个会话（回调模式，或还没人在会话里@过机器人），"
                "且该群没有配置消息推送 webhook_key",
                permanent=True,
            )
        plain = Reply(
            text=reply.text,
            markdown=reply.markdown,
            title=reply.title,
            table=reply.table,
            charts=reply.charts,
            card=reply.card,
            mentions=reply.mentions,
        )
        await self.fallback.send(f"robot:{key}", "reply", plain.to_dict(), progress.setdefault("robot", {}))
        return "经群消息推送 webhook 发送（无按钮）"

    # --- transports ------------------------------------------------------------------------------------------
    async def _ws(self, cmd: str, body: dict, *, req_id: str | None = None) -> dict:
        if self.ws is None:
            raise SendError("智能机器人长连接未启用", permanent=True)
        return await self.ws.request(cmd, body, req_id=req_id)

    async def _response_url(self, route: dict, body: dict) -> None:
        url = route.get("response_url")
        if not url:
            raise SendError("这条回答已超出被动回复时限，且没有 response_url 可用", permanent=True)
        try:
            async with self.http.post(
                url, data=json.dumps(body, ensure_ascii=False).encode(), headers={"Content-Type": "application/json"}
            ) as resp:
                if resp.status >= 500:
                    raise SendError(f"企业微信 response_url HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(f"连接企业微信失败：{type(exc).__name__}") from exc
        if data.get("errcode", 0) != 0:  # used already or expired: it can never succeed
            raise SendError(f"response_url 被拒绝：{data.get('errmsg', '')}", code=data.get("errcode"), permanent=True)
