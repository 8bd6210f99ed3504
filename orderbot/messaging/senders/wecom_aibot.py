"""WeCom AI bot outbound: answers to messages, card clicks and welcomes, and pushes, in both API modes.

Rendering keeps every word: the stream carries the whole markdown (text, table, card fields; ≤ 20480 bytes a
frame, the rest in further frames or the response_url) with up to 10 chart images, and a card with buttons
carries the buttons and a summary. A click is answered with `update_template_card` showing who did what (the
answer's own card, if it has one, in place of the pressed one); an answer the card cannot show whole follows in
the chat (`click_carries_all`).

Callback mode: a late answer is handed to the open stream (`StreamStore`) and counts as sent once WeCom's poll
has carried it out; otherwise it goes once through the message's `response_url` (markdown; a card only in 1:1).
What neither carries (the third part of a long answer on, a click's charts) goes through the group's 消息推送
webhook, else 1:1 through the WeCom app; with no way the row fails, the response_url part saying what is missing.
A push to a group (an alert) is impossible in callback mode: it goes through the group's 消息推送 webhook.
Long-connection mode: `aibot_respond_msg` / `aibot_respond_update_msg` / `aibot_respond_welcome_msg` echo the
callback's req_id, the stream keeps its id (a resend after a dropped connection replaces, never doubles) and
`aibot_send_msg` pushes markdown into chats that have talked to the bot. WeCom allows 30 messages a minute and
1,000 an hour per conversation, answers and pushes together: every frame that makes a message (a stream, a
markdown part, a card, a file, a push, a welcome; not a card update, which changes a message) is counted per
conversation here, before it goes, whether it comes from the outbox or straight from the long connection; a
frame over the quota raises a rate `SendError`, so its row waits (its progress kept: nothing sent twice).

Files (`Reply.files`, e.g. the evidence spreadsheet): an answer's files are split off into outbox rows of their
own (`split_files`, called by the pipeline in the answer's transaction), one per file, after the answer's row,
so a failed upload is retried without sending the answer again. How each file travels (`plan_file`): over the
long connection it is uploaded in chunks (`aibot_upload_media_*`) and sent as a `file` message; in callback mode
(passive replies carry no files) through the group's 消息推送 webhook (`webhook/upload_media`), else 1:1 to the
asker through the self-built WeCom app; with no way, or over the platform's 20 MB, the answer says so instead.
A push (an alert, a report) carries its files in its own row, as steps after its markdown.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import io
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.messaging.png import shrink_png
from orderbot.core.staff import wecom_userid_for
from orderbot.messaging.inbound import Origin
from orderbot.messaging.markup import escape_card_text, escape_wecom_markdown, outside, plain
from orderbot.messaging.reply import Attachment, Reply
from orderbot.messaging.aibot_streams import PLACEHOLDER, StreamStore
from orderbot.messaging.senders.wecom import button_card, card_summary, classify_error
from orderbot.messaging.senders.base import Limit, RateLimiter, SendError, request_json
from orderbot.messaging.text import reply_markdown, reply_plain, split_utf8

STREAM_LIMIT = 20480  # bytes of markdown in a stream frame or a response_url message
PART_LIMIT = STREAM_LIMIT - 512  # a part of an answer: room left for a closing note (what could not be sent)
SUBTITLE = 112  # characters of a template card's sub_title_text
CHART_LIMIT = 2 * 1024 * 1024  # an image uploaded over the long connection
MAX_IMAGES = 10
IMAGE_LIMIT = 10 * 1024 * 1024
POLL_WAIT = 8.0  # seconds an answer waits in the open stream for WeCom's next poll
DONE_KEY = "noop:done"
EXPIRED = 846608  # stream older than 6 min
NOT_ALLOWED = (93006,)  # invalid chatid: nobody has talked to the bot there
FILE_LIMIT = 20 * 1024 * 1024  # a file over the long connection, the 消息推送 webhook or the WeCom app
NOT_A_REPLY = (846605, 846608)  # the req_id cannot carry this answer (an event's, or too old): push it instead
MEDIA_LIFE = 2 * 24 * 3600.0  # seconds an uploaded media_id is reused by a retry (WeCom keeps it 3 days)
log = logging.getLogger("orderbot.wecom_aibot")
UPLOADS = ((30, 60.0), (1000, 3600.0))  # long-connection uploads per bot: 30 a minute, 1000 an hour
CHAT_LIMITS = (Limit(30, 60), Limit(1000, 3600))  # long-connection messages per conversation
COUNTED = ("aibot_respond_msg", "aibot_send_msg", "aibot_respond_welcome_msg")  # frames that make a message


class WsLink(Protocol):
    """The long connection as the sender sees it (`AibotWsClient`)."""

    connected: asyncio.Event

    async def request(self, cmd: str, body: dict, *, req_id: str | None = None) -> dict: ...

    async def upload(self, content: bytes, filename: str, media_type: str = "file") -> str: ...


@dataclasses.dataclass(frozen=True)
class FilePlan:
    """How one file of an answer travels: `way` is "ws" (the long connection), "webhook" (the group's 消息推送),
    "app" (1:1 through the self-built WeCom app) or None (it cannot go); `note` is what the answer says about it
    ("" when the file follows in the same chat)."""

    way: str | None
    note: str = ""


def task_id_for(card_task: str | None, seed: str) -> str:
    """WeCom task ids: ≤128 bytes of [0-9A-Za-z_-@], unique per bot."""
    if card_task:
        clean = re.sub(r"[^0-9A-Za-z_\-@]", "_", card_task)[:128]
        if clean:
            return clean
    return "t" + hashlib.sha1(seed.encode()).hexdigest()[:32]


NO_BUTTONS = "（这条回答的按钮只能在与机器人的对话里显示：请@机器人重新提问，或在企业微信应用 OrderBot 里操作）"


def lost_note(parts: int, charts: int, buttons: bool) -> str:
    """What the one response_url message says when the rest of a callback-mode answer has no way to go."""
    what = "、".join(
        x
        for x in (f"{parts} 段文字" if parts else "", f"{charts} 张图表" if charts else "", "按钮" if buttons else "")
        if x
    )
    return (
        f"（后面还有{' ' if what[:1].isdigit() else ''}{what}无法经智能机器人发送："
        "请在企业微信应用 OrderBot 里发同样的话查看全文，"
        "或请管理员给本群配置消息推送 webhook_key）"
    )


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def no_way_note(label: str) -> str:
    """`label`: 附件「name」, or just 附件 when the answer names the file already."""
    return (
        f"（{label}无法经智能机器人发送：请在企业微信应用 OrderBot 里发同样的话获取，"
        "或请管理员给本群配置消息推送 webhook_key）"
    )


def too_big_note(label: str, size: int) -> str:
    return (
        f"（{label}有 {_mb(size)}，超过企业微信允许的 {_mb(FILE_LIMIT)}，无法发送："
        "请缩小范围（例如缩短日期区间）后再导出，或联系管理员导出）"
    )


def file_label(f: Attachment, reply: Reply) -> str:
    return "附件" if f.filename in reply.text else f"附件「{f.filename}」"


def files_note(reply: Reply) -> str:
    """What the answer says about its files: the notes `split_files` left (a file that cannot go, or goes another
    way), and for files still on the reply (none was split off) that they cannot go this way."""
    notes = [n for n in reply.meta.get("files_notes") or [] if isinstance(n, str)]
    notes += [no_way_note(file_label(f, reply)) for f in reply.files]
    return "\n".join(notes)


def markdown_parts(reply: Reply) -> list[str]:
    text = reply_markdown(reply) or reply_plain(reply)
    if note := files_note(reply):  # file names may carry imported names (lanes, carriers): made inert
        text += "\n\n" + escape_wecom_markdown(note)
    if reply.mentions:
        text += "\n" + " ".join(f"<@{m}>" for m in reply.mentions)
    return split_utf8(text, PART_LIMIT) if text else [""]


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


def template_card(reply: Reply, seed: str) -> dict | None:
    """A button card for a reply with buttons (None without)."""
    card = reply.card
    if card is None or not card.buttons:
        return None
    body = button_card(card, task_id_for(card.task_id, seed))
    if sub := card_summary(reply):
        body["sub_title_text"] = sub
    return body


def click_carries_all(reply: Reply) -> bool:
    """Whether the card update alone shows the whole answer to a click: no table, no chart, and its text (with
    what it says about files) fits the subtitle. Else the whole answer also goes into the chat."""
    text, note = reply_plain(reply), plain(files_note(reply))
    return not (reply.table or reply.charts) and len(text) + (len(note) + 1 if note else 0) <= SUBTITLE


def click_summary(reply: Reply) -> str:
    """One line for the card when the whole answer follows in the chat: its title and first line, with …"""
    first = card_summary(reply).rstrip("…")
    head = "：".join(x for x in (plain(reply.title), first) if x)
    return head[:60] + "…"


def refused(reply: Reply) -> bool:
    """An answer that did nothing for the chat: a bare text with no `subject` (a refusal, a stale button); a read
    answer (a table, a chart, a card of its own) or a write (`meta.subject`) is for everyone."""
    card = reply.card
    return not (reply.meta.get("subject") or reply.table or reply.charts or (card is not None and card.buttons))


def card_update(reply: Reply, task_id: str, user: str, sent: dict | None) -> dict:
    """The answer to a click: the card with who did what. A refused click changes the card only for the person
    who clicked; another for everybody, its buttons replaced by the answer's own card (e.g. 撤销, or 放行/取消
    under 逐单查看) or by a spent 已处理. The subtitle holds the whole text when it fits (`click_carries_all`),
    else the first line as a summary: the whole answer then follows in the chat."""
    done = not refused(reply)
    text, note = reply_plain(reply), plain(files_note(reply))
    if not click_carries_all(reply):
        text = click_summary(reply)
    if note:  # the note whole (where to get the file), the text shortened to fit beside it
        room = SUBTITLE - len(note) - 1
        text = ((text[: room - 1] + "…" if len(text) > room else text) + "\n" if room > 8 and text else "") + note
    card = reply.card
    if done and card is not None and card.buttons:
        base = button_card(card, task_id)  # the answer's own card, in place of the pressed one
    elif sent:
        base = dict(sent)
    else:
        base = {"main_title": {"title": escape_card_text(reply.title or text.split("\n", 1)[0])[:36]}}
    base["card_type"] = "button_interaction"
    base["task_id"] = task_id
    base["sub_title_text"] = text[:SUBTITLE]
    if done and not (card is not None and card.buttons):
        base["button_list"] = [{"text": "已处理", "style": 2, "key": DONE_KEY}]
    elif "button_list" not in base:
        base["button_list"] = [{"text": "已处理", "style": 2, "key": DONE_KEY}]
    out: dict[str, Any] = {"response_type": "update_template_card", "template_card": base}
    if not done:
        out["userids"] = [user]
    return out


def stream_reply(reply: Reply, sid: str, seed: str, feedback: str | None = None) -> tuple[dict, dict | None, list[str]]:
    """(finished stream body, the template card or None, markdown parts that did not fit the stream); `feedback`:
    the answer's feedback id (WeCom sends a rating, `feedback_event`, only for an answer that carried one)."""
    parts = markdown_parts(reply)
    body: dict[str, Any] = {"id": sid, "finish": True, "content": parts[0]}
    if feedback:
        body["feedback"] = {"id": feedback}
    if reply.charts:
        body["msg_item"] = images(reply)
    return body, template_card(reply, seed), parts[1:]


def push_to(destination: str) -> dict:
    """The address of an `aibot_send_msg` to a destination: a group chat (`chat:…`) or 1:1 (`user:…`)."""
    kind, _, target = destination.partition(":")
    return {"chatid": target, "chat_type": 2 if kind == "chat" else 1}


def expired_pushes(frame: dict, destination: str) -> list[dict]:
    """What to push instead of an answer frame WeCom refused as too late (846608, the stream is over 6 minutes
    old): its markdown, saying that its charts could not come along (images go only in a stream); a card as it is
    in 1:1 and left out in a group (WeCom pushes cards 1:1 only; its words are in the markdown already)."""
    head = push_to(destination)
    if frame.get("msgtype") == "template_card":  # pushed 1:1 only
        card = {**head, "msgtype": "template_card", "template_card": frame["template_card"]}
        return [card] if destination.startswith("user:") else []
    texts = [(frame.get("stream") or frame.get("markdown") or {}).get("content", "")]
    if charts := len((frame.get("stream") or {}).get("msg_item") or []):
        note = f"（{charts} 张图表没能随这条超时的回答发出，请重新提问查看）"
        if len(f"{texts[0]}\n\n{note}".encode()) <= STREAM_LIMIT:
            texts = [f"{texts[0]}\n\n{note}"]
        else:
            texts.append(note)
    return [{**head, "msgtype": "markdown", "markdown": {"content": t}} for t in texts if t.strip()]


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
        app=None,
        api_base: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        """`fallback`: the group robot sender, for pushes to a group the bot may not push to;
        `group_webhooks`: AI-bot chat id → that group's 消息推送 webhook key (from the business config);
        `app`: the WeCom app sender (files 1:1 in callback mode), if the app is configured;
        `api_base`: WeCom's server API (the webhook's upload_media), by default the group robot sender's."""
        self.http, self.mode, self.streams, self.ws = http, mode, streams or StreamStore(), ws
        self.fallback, self.group_webhooks, self.app = fallback, group_webhooks or {}, app
        base = api_base or getattr(fallback, "base", None) or "https://qyapi.weixin.qq.com"
        self.api_base = base.rstrip("/")
        self._uploads: deque[float] = deque()  # long-connection uploads of the last hour (monotonic seconds)
        self.clock, self.quota = clock, RateLimiter()  # messages per conversation (CHAT_LIMITS), counted per frame

    def limit_for(self, destination: str) -> Limit | None:
        return None  # the long connection's quota is counted per frame, in `_ws`

    async def send(self, destination: str, kind: str, payload: dict, progress: dict) -> str | None:
        if kind == "file":
            return await self._file(destination, payload, progress)
        reply = Reply.from_dict(payload)
        route = payload.get("_route") or {}
        if kind == "card_update" or route.get("kind") == "card":
            return await self._card(destination, route, reply, progress)
        if route.get("kind") == "welcome":
            return await self._welcome(destination, route, reply)
        if route.get("kind") == "msg":
            return await self._answer(destination, route, reply, progress)
        return await self._push(destination, reply, progress)

    # --- answers to a message ------------------------------------------------------------------------------
    async def _answer(self, destination: str, route: dict, reply: Reply, progress: dict) -> str | None:
        sid = route.get("stream") or "s"
        body, card, rest = stream_reply(reply, sid, f"{destination}:{sid}", route.get("feedback"))
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
        if progress.get("stream"):  # the stream carried the first part, its charts and its card
            return await self._by_url(destination, route, reply, rest, progress, charts=False, buttons=False)
        parts = [body["content"], *rest]
        return await self._by_url(destination, route, reply, parts, progress, charts=True, buttons=True)

    async def _by_url(
        self,
        destination: str,
        route: dict,
        reply: Reply,
        parts: list[str],
        progress: dict,
        *,
        charts: bool,
        buttons: bool,
    ) -> str | None:
        """Callback mode, what the stream (or the card update) did not carry: `parts` of the markdown, and the
        charts and the buttons if asked. The first part goes once through the response_url (markdown only,
        once); the rest through the group's 消息推送 webhook, else 1:1 through the WeCom app (`_elsewhere`).
        With no other way the response_url part says what is missing and the row fails (never stored as sent)."""
        card = reply.card if buttons and reply.card is not None and reply.card.buttons else None
        images = reply.charts if charts else ()
        later = parts[1:]
        way = self._elsewhere_way(destination, route) if later or images or card else None
        missing = bool(later or images or card) and way is None
        if parts and not progress.get("url"):
            content = parts[0]
            if missing:
                content += "\n\n" + escape_wecom_markdown(lost_note(len(later), len(images), card is not None))
            await self._response_url(route, {"msgtype": "markdown", "markdown": {"content": content}})
            progress["url"] = True
        if missing:
            raise SendError(
                f"回调模式下回答的其余部分（{len(later)} 段文字、{len(images)} 张图表"
                f"{'、按钮' if card else ''}）无处可发：群未配置消息推送 webhook_key，企业微信应用也不可用",
                permanent=True,
            )
        if way is None:
            return "经 response_url 发送" if parts else None
        text = "\n".join(later)
        more = Reply(text=text, markdown=bool(text), charts=images)  # (no empty markdown before charts alone)
        if way == "app":  # 1:1 the app can show the answer's buttons; they work like the bot's
            more = dataclasses.replace(more, card=card)
        elif card is not None:
            more = dataclasses.replace(more, text=more.text + "\n\n" + escape_wecom_markdown(NO_BUTTONS))
        return "response_url 之后的部分" + await self._elsewhere(way, destination, route, more, progress)

    def _elsewhere_way(self, destination: str, route: dict) -> str | None:
        """Where callback-mode content goes that the AI bot cannot carry: "webhook" (the group's 消息推送), "app"
        (1:1 to the asker through the WeCom app) or None."""
        kind, _, target = destination.partition(":")
        if kind == "chat" and self.group_webhooks.get(target) and self.fallback is not None:
            return "webhook"
        user = route.get("user", "")
        if self.app is not None and user and not user.startswith("wo"):
            return "app"
        return None

    async def _elsewhere(self, way: str, destination: str, route: dict, more: Reply, progress: dict) -> str:
        if way == "webhook":
            key = self.group_webhooks[destination.partition(":")[2]]
            await self.fallback.send(f"robot:{key}", "reply", more.to_dict(), progress.setdefault("robot", {}))
            return "经群消息推送 webhook 发送"
        user = route["user"]
        await self.app.send(f"user:{user}", "reply", more.to_dict(), progress.setdefault("app", {}))
        return f"经企业微信应用发给 {user}"

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
                await self._ws(cmd, frame, req_id=req_id, chat=destination)
            except SendError as exc:
                if exc.code != EXPIRED:
                    raise
                # the stream is older than 6 min: push the same content instead
                for late in expired_pushes(frame, destination)[progress.get("late", 0) :]:
                    await self._ws("aibot_send_msg", late, chat=destination)
                    progress["late"] = progress.get("late", 0) + 1
                progress.pop("late", None)
            progress["done"] = i + 1
        return None

    async def placeholder(self, destination: str, route: dict, *, finish: bool = False) -> bool:
        """Long connection: show the answer's stream unfinished ("正在查询…", with its feedback id: WeCom honours
        it on the first frame) while a slow answer is made; `finish`: end it with nothing more to say. The
        answer then finishes the same stream. False if it could not be shown (the answer is not held up)."""
        stream: dict[str, Any] = {"id": route.get("stream") or "s", "finish": finish, "content": PLACEHOLDER}
        if finish:
            stream["content"] = "（没有需要回复的内容）"
        elif route.get("feedback"):
            stream["feedback"] = {"id": route["feedback"]}
        try:
            await self._ws(
                "aibot_respond_msg",
                {"msgtype": "stream", "stream": stream},
                req_id=route.get("req_id"),
                chat=None if finish else destination,  # the finish replaces the frame shown: not a new message
            )
        except SendError as exc:
            log.info("AI bot placeholder to %s not shown: %s", destination, exc)
            return False
        return True

    # --- card clicks and welcomes ----------------------------------------------------------------------------
    async def _card(self, destination: str, route: dict, reply: Reply, progress: dict) -> str | None:
        """The answer to a click. Long connection: the card update (within 5 s), then, unless the card shows it
        all, the whole answer pushed into the chat (`aibot_send_msg`: an event's req_id carries no message) —
        markdown parts and the charts as images; its buttons are on the updated card. Callback mode: here only
        when the update did not go back in time (or does not show it all): the answer through the response_url
        and what follows it (`_by_url`)."""
        task = route.get("task_id", "")
        if route.get("mode", self.mode) != "ws" or not route.get("req_id"):
            # the answer's buttons are on the updated card (an update that missed WeCom's 5 s loses them)
            parts = markdown_parts(reply)
            return await self._by_url(destination, route, reply, parts, progress, charts=True, buttons=False)
        steps: list[tuple[str, Any]] = [("update", None)]
        if not click_carries_all(reply):
            steps += [("md", p) for p in markdown_parts(reply)] + [("chart", c) for c in reply.charts[:MAX_IMAGES]]
        for i, (what, item) in enumerate(steps):
            if i < progress.get("done", 0):
                continue
            if what == "update":
                update = card_update(reply, task, route.get("user", ""), self.streams.cards.get(task))
                try:
                    await self._ws("aibot_respond_update_msg", update, req_id=route["req_id"])
                except SendError as exc:
                    if exc.code is None or len(steps) == 1:  # the link failed (retry), or the update is all
                        raise
                    # too late for the update (a resend after a reconnect): the answer itself follows
            elif what == "md":
                await self._push_frame(destination, {"msgtype": "markdown", "markdown": {"content": item}})
            else:
                media = await self._ws_image(item.png, progress.setdefault("media", {}), str(i))
                await self._push_frame(destination, {"msgtype": "image", "image": {"media_id": media}})
            progress["done"] = i + 1
        return None

    async def _ws_image(self, png: bytes, progress: dict[str, Any], slot: str) -> str:
        """A chart uploaded over the long connection as an image (≤ 2 MB), once per row's attempts."""
        known = progress.get(slot)
        if isinstance(known, dict) and time.time() - known.get("at", 0) < MEDIA_LIFE:
            return str(known["id"])
        if self.ws is None:
            raise SendError("智能机器人长连接未启用", permanent=True)
        self._upload_slot()
        media_id = await self.ws.upload(shrink_png(png, CHART_LIMIT), "chart.png", "image")
        progress[slot] = {"id": media_id, "at": time.time()}
        return media_id

    async def _welcome(self, destination: str, route: dict, reply: Reply) -> str | None:
        if route.get("mode", self.mode) == "ws" and route.get("req_id"):
            await self._ws(
                "aibot_respond_welcome_msg",
                {"msgtype": "text", "text": {"content": reply_plain(reply)[:2000]}},
                req_id=route["req_id"],
                chat=destination,
            )
            return None
        raise SendError("欢迎语没能在进入会话的回调里及时回复，企业微信不允许事后补发", permanent=True)

    # --- pushes (alerts, reports) ----------------------------------------------------------------------------
    async def _push(self, destination: str, reply: Reply, progress: dict) -> str | None:
        kind, _, target = destination.partition(":")
        # Files go after the markdown, as steps of this row; one over the platform's limit is named in the text.
        files = [f for f in reply.files if len(f.content) <= FILE_LIMIT]
        notes = [too_big_note(file_label(f, reply), len(f.content)) for f in reply.files if len(f.content) > FILE_LIMIT]
        reply = dataclasses.replace(reply, files=(), meta={**reply.meta, "files_notes": notes})
        if self.mode == "ws" and self.ws is not None and not progress.get("fallback"):
            parts = markdown_parts(reply)
            card = (
                template_card(reply, f"{destination}:{hashlib.sha1(reply.text.encode()).hexdigest()}")
                if kind == "user"
                else None
            )
            steps: list[dict[str, Any] | Attachment] = [
                {"msgtype": "markdown", "markdown": {"content": p}} for p in parts
            ]
            if card is not None:  # template cards may be pushed 1:1 only
                self.streams.remember_card(card["task_id"], card)
                steps.append({"msgtype": "template_card", "template_card": card})
            steps += files
            try:
                for i, step in enumerate(steps):
                    if i < progress.get("done", 0):
                        continue
                    if isinstance(step, Attachment):
                        body = await self._ws_file_body(step, progress.setdefault("media", {}), str(i))
                    else:
                        body = step
                    await self._push_frame(destination, body)
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
            text="\n".join([reply.text, *(outside(n) if reply.markdown else n for n in notes)]),
            markdown=reply.markdown,
            title=reply.title,
            table=reply.table,
            charts=reply.charts,
            card=reply.card,
            mentions=reply.mentions,
        )
        await self.fallback.send(f"robot:{key}", "reply", plain.to_dict(), progress.setdefault("robot", {}))
        for i, f in enumerate(files):
            if i < progress.get("webhook_files", 0):
                continue
            await self._webhook_file(key, f)
            progress["webhook_files"] = i + 1
        return "经群消息推送 webhook 发送（无按钮）"

    # --- files ---------------------------------------------------------------------------------------------
    def plan_file(
        self, route: dict[str, str], destination: str, f: Attachment, app_user: str | None = None, label: str = ""
    ) -> FilePlan:
        """How file `f` of the answer to `route` (the message's reply route) reaches `destination`; `label` names
        it in a note (附件「name」 by default)."""
        label = label or f"附件「{f.filename}」"
        if len(f.content) > FILE_LIMIT:
            return FilePlan(None, too_big_note(label, len(f.content)))
        if route.get("mode", self.mode) == "ws":
            return FilePlan("ws")
        kind, _, target = destination.partition(":")
        if kind == "chat" and self.group_webhooks.get(target):
            return FilePlan("webhook")
        if self.app is not None and app_user:
            return FilePlan("app", f"（{label}另经企业微信应用 OrderBot 发给你）")
        return FilePlan(None, no_way_note(label))

    async def split_files(
        self, session: AsyncSession, origin: Origin, reply: Reply
    ) -> tuple[Reply, list[tuple[str, str, dict[str, Any]]]]:
        """Called by the pipeline in the answer's transaction: the answer without its files (what it says about
        them in `meta["files_notes"]`) and one outbox row (destination, kind, payload) per file that can go."""
        route = dict(origin.reply_route)
        app_user = await self._app_user(session, origin.user_id) if self.app is not None else None
        notes: list[str] = []
        rows: list[tuple[str, str, dict[str, Any]]] = []
        for f in reply.files:
            plan = self.plan_file(route, origin.reply_to, f, app_user, file_label(f, reply))
            if plan.note:
                notes.append(plan.note)
            if plan.way is not None:
                payload: dict[str, Any] = {"file": f.to_dict(), "_route": route, "way": plan.way}
                if plan.way == "app":
                    payload["app_user"] = app_user
                    payload["about"] = reply.title or reply_plain(reply).split("\n", 1)[0][:60]
                rows.append((origin.reply_to, "file", payload))
        meta = {**reply.meta, "files_notes": [*reply.meta.get("files_notes", []), *notes]}
        return dataclasses.replace(reply, files=(), meta=meta), rows

    @staticmethod
    async def _app_user(session: AsyncSession, user_id: str) -> str | None:
        """The asker's userid in the WeCom app: the AI bot's own id, or, for an open_userid (`wo…`, a bot created
        by a member), the staff directory's userid for it."""
        return await wecom_userid_for(session, user_id) if user_id.startswith("wo") else user_id

    async def _file(self, destination: str, payload: dict[str, Any], progress: dict[str, Any]) -> str | None:
        """One file of an answer, in its own outbox row, the way `split_files` chose."""
        att = Attachment.from_dict(payload["file"])
        if not att.mime:
            att = dataclasses.replace(att, mime="application/octet-stream")
        route = payload.get("_route") or {}
        kind, _, target = destination.partition(":")
        way = payload.get("way")
        if way == "ws":
            body = await self._ws_file_body(att, progress, "media")
            if route.get("kind") == "msg" and route.get("req_id") and not progress.get("push"):
                try:
                    await self._ws("aibot_respond_msg", body, req_id=route["req_id"], chat=destination)
                    return None
                except SendError as exc:
                    if exc.code not in NOT_A_REPLY:
                        raise
                    progress["push"] = True  # the answer's req_id is too old: push the file instead
            await self._push_frame(destination, body)
            return None
        if way == "webhook":
            key = self.group_webhooks.get(target) if kind == "chat" else None
            if not key:
                raise SendError("该群的消息推送 webhook_key 已不在配置里，附件无法发送", permanent=True)
            await self._webhook_file(key, att)
            return "经群消息推送 webhook 发送"
        if way == "app":
            if self.app is None:
                raise SendError("企业微信应用未配置，附件无法单独发给提问人", permanent=True)
            about = payload.get("about") or ""
            text = f"你在智能机器人里要的附件{'（' + about + '）' if about else ''}："
            await self.app.send(
                f"user:{payload['app_user']}",
                "reply",
                Reply(text=text, files=(att,)).to_dict(),
                progress.setdefault("app", {}),
            )
            return f"经企业微信应用发给 {payload['app_user']}"
        raise SendError(f"不认识的附件发送方式 {way!r}", permanent=True)

    async def _ws_file_body(self, f: Attachment, progress: dict[str, Any], slot: str) -> dict[str, Any]:
        """The `file` message body for `f`, uploading it over the long connection unless an earlier attempt of
        this row did (its media_id lives 3 days; a retry reuses it for 2)."""
        known = progress.get(slot)
        if isinstance(known, dict) and time.time() - known.get("at", 0) < MEDIA_LIFE:
            return {"msgtype": "file", "file": {"media_id": known["id"]}}
        if self.ws is None:
            raise SendError("智能机器人长连接未启用", permanent=True)
        self._upload_slot()
        media_id = await self.ws.upload(f.content, f.filename, "file")
        progress[slot] = {"id": media_id, "at": time.time()}
        return {"msgtype": "file", "file": {"media_id": media_id}}

    def _upload_slot(self) -> None:
        """Long-connection uploads per bot: 30 a minute and 1000 an hour; over that, wait for a free slot."""
        now = time.monotonic()
        while self._uploads and now - self._uploads[0] >= UPLOADS[-1][1]:
            self._uploads.popleft()
        for count, per in UPLOADS:
            recent = [t for t in self._uploads if now - t < per]
            if len(recent) >= count:
                raise SendError(
                    f"智能机器人上传文件已达每 {per / 60:g} 分钟 {count} 个的上限，稍后再发",
                    retry_after=recent[0] + per - now + 1,
                )
        self._uploads.append(now)

    async def _webhook_file(self, key: str, f: Attachment) -> None:
        """Upload to the group's 消息推送 webhook (`upload_media`, type file) and send it there as a `file`."""
        form = aiohttp.FormData()
        form.add_field("media", io.BytesIO(f.content), filename=f.filename, content_type=f.mime)
        _, data = await request_json(
            self.http,
            "POST",
            f"{self.api_base}/cgi-bin/webhook/upload_media",
            what="企业微信消息推送",
            params={"key": key, "type": "file"},
            data=form,
        )
        if data.get("errcode", 0):
            raise classify_error(data["errcode"], data.get("errmsg", ""))
        if not isinstance(data.get("media_id"), str):
            raise SendError("企业微信消息推送上传文件后没有返回 media_id")
        _, data = await request_json(
            self.http,
            "POST",
            f"{self.api_base}/cgi-bin/webhook/send",
            what="企业微信消息推送",
            params={"key": key},
            json={"msgtype": "file", "file": {"media_id": data["media_id"]}},
        )
        if data.get("errcode", 0):
            raise classify_error(data["errcode"], data.get("errmsg", ""))

    # --- transports ------------------------------------------------------------------------------------------
    async def _ws(self, cmd: str, body: dict, *, req_id: str | None = None, chat: str | None = None) -> dict:
        """One frame over the long connection. `chat`: the conversation whose quota a message frame counts
        against (None for a frame that makes no new message, e.g. the finish of a stream already shown)."""
        if self.ws is None:
            raise SendError("智能机器人长连接未启用", permanent=True)
        if chat is None or cmd not in COUNTED:
            return await self.ws.request(cmd, body, req_id=req_id)
        if not self.ws.connected.is_set():  # fails before anything goes: uses no quota
            raise SendError("智能机器人长连接未连上，稍后重发", retry_after=self.ws.retry_down)
        self._take_quota(chat)
        try:
            return await self.ws.request(cmd, body, req_id=req_id)
        except SendError as exc:
            if exc.code:  # WeCom refused it: no message was made
                for limit in CHAT_LIMITS:
                    self.quota.forget((chat, str(limit.per_seconds)))
            raise

    async def _push_frame(self, destination: str, body: dict) -> dict:
        """One `aibot_send_msg` to `destination`: it makes a message, so it counts against that conversation's
        quota."""
        return await self._ws("aibot_send_msg", {**push_to(destination), **body}, chat=destination)

    def _take_quota(self, chat: str) -> None:
        """Count one message to `chat` (a destination, `chat:…`/`user:…`), or raise a rate `SendError` saying
        when one may go."""
        now = self.clock()
        waits = [self.quota.next_free((chat, str(limit.per_seconds)), limit, now) for limit in CHAT_LIMITS]
        later = max((w for w in waits if w is not None), default=None)
        if later is not None:
            raise SendError(
                "智能机器人在这个会话每分钟最多 30 条、每小时最多 1000 条消息：稍后再发",
                retry_after=max((later - now).total_seconds(), 0.5),
            )
        for limit in CHAT_LIMITS:
            self.quota.record((chat, str(limit.per_seconds)), now)

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
