"""WeCom AI bot callbacks (decrypted JSON, the same in callback and long-connection mode) → inbound values.

Messages: text (the @-mention of the bot removed), mixed (图文混排: its text items), voice (1:1 only: WeCom sends
the transcript), and a quoted message's text as context. Images and files are not understood (`Unreadable`).
Events: enter_chat → EnterAgent, template_card_event → CardAction, feedback_event → Feedback. Every value carries
how to answer it in `Origin.reply_route` (mode, stream id, feedback id, response_url, req_id), read by the AI-bot
sender.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, UTC

from orderbot.messaging.inbound import CardAction, ChatMessage, EnterAgent, Feedback, InboundEvent, Origin

PLATFORM = "wecom_aibot"
MAX_TEXT = 4000  # characters of a message we look at; WeCom's own limit on a chat message is about this


class BadMessage(ValueError):
    """Not the JSON the AI bot sends; the reason is safe to show."""


@dataclass(frozen=True)
class Unreadable:
    """An image, file or video in 1:1: acknowledged, not understood (nothing to store or process)."""

    msgid: str
    kind: str
    stream_id: str


@dataclass(frozen=True)
class StreamPoll:
    """Callback mode: WeCom asks for the current content of a stream we opened."""

    stream_id: str


def stream_id_for(msgid: str) -> str:
    """One stream per message, derived from its msgid, so a retried callback reopens the same stream."""
    return "s" + hashlib.sha1(msgid.encode()).hexdigest()[:24]


def feedback_id_for(msgid: str) -> str:
    """The `feedback.id` of the answer to a message (≤ 256 bytes): derived from its msgid like the stream id, so it
    is known before the answer (callback mode's first frame, which alone may carry it, is often the placeholder)."""
    return "f" + hashlib.sha1(msgid.encode()).hexdigest()[:24]


def strip_mention(text: str, bot_name: str) -> str:
    """Remove '@<bot name>' wherever it stands (WeCom leaves it in the text, not always in front)."""
    if bot_name:
        text = re.sub(r"@" + re.escape(bot_name) + r"(?=\s|$|[，,：:])", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _str(d: dict, *path: str) -> str:
    cur = d
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur if isinstance(cur, str) else ""


def _mixed_text(mixed: dict) -> str:
    items = mixed.get("msg_item") if isinstance(mixed, dict) else None
    if not isinstance(items, list):
        raise BadMessage("mixed.msg_item missing")
    return " ".join(_str(i, "text", "content") for i in items if isinstance(i, dict) and i.get("msgtype") == "text")


def _quote_text(quote) -> str:
    if not isinstance(quote, dict):
        return ""
    kind = quote.get("msgtype")
    if kind in ("text", "voice"):
        return _str(quote, kind, "content")
    if kind == "mixed":
        try:
            return _mixed_text(quote.get("mixed") or {})
        except BadMessage:
            return ""
    return ""


def _at(body: dict, received: datetime) -> datetime:
    ts = body.get("create_time")
    if isinstance(ts, int) and 0 < ts < 2**33:
        return datetime.fromtimestamp(ts, tz=UTC)
    return received


def to_event(
    body: dict, *, mode: str, received: datetime, bot_name: str = "", req_id: str | None = None
) -> InboundEvent | Unreadable | StreamPoll | None:
    """Map one decrypted callback. `req_id`: the long connection's request id (answers echo it).
    None for kinds the bot ignores (acknowledged all the same)."""
    if not isinstance(body, dict):
        raise BadMessage("callback is not a JSON object")
    msgtype = body.get("msgtype")
    if msgtype == "stream":
        sid = _str(body, "stream", "id")
        if not sid:
            raise BadMessage("stream.id missing")
        return StreamPoll(sid)
    msgid = body.get("msgid")
    if not isinstance(msgid, str) or not msgid:
        raise BadMessage("msgid missing")
    user = _str(body, "from", "userid")
    if not user:
        raise BadMessage("from.userid missing")
    chattype = body.get("chattype") or "single"
    chat = body.get("chatid") if chattype == "group" else None
    if chattype == "group" and not (isinstance(chat, str) and chat):
        raise BadMessage("chatid missing for a group callback")
    sid = stream_id_for(msgid)
    route: list[tuple[str, str]] = [("mode", mode), ("user", user), ("chattype", chattype)]
    if isinstance(body.get("response_url"), str) and body["response_url"]:
        route.append(("response_url", body["response_url"]))
    if req_id:
        route.append(("req_id", req_id))
    reply_to = f"chat:{chat}" if chat else f"user:{user}"
    at = _at(body, received)

    def origin(kind: str, stream: bool = False, *more: tuple[str, str]) -> Origin:
        extra = [("kind", kind)] + ([("stream", sid)] if stream else []) + list(more)
        return Origin(PLATFORM, user, chat, reply_channel=PLATFORM, reply_to=reply_to, reply_route=tuple(route + extra))

    if msgtype == "event":
        event = body.get("event") if isinstance(body.get("event"), dict) else {}
        etype = event.get("eventtype")
        if etype == "enter_chat":
            return EnterAgent(origin("welcome"), f"enter:{msgid}", at)
        if etype == "template_card_event":
            card = event.get("template_card_event") or {}
            if not isinstance(card, dict) or not isinstance(card.get("event_key"), str):
                raise BadMessage("template_card_event.event_key missing")
            selections: dict[str, tuple[str, ...]] = {}
            items = (card.get("selected_items") or {}).get("selected_item") or []
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict):
                    ids = (item.get("option_ids") or {}).get("option_id") or []
                    selections[str(item.get("question_key", ""))] = tuple(str(i) for i in ids)
            task = card.get("task_id") if isinstance(card.get("task_id"), str) else None
            more = (("task_id", task),) if task else ()
            return CardAction(
                origin("card", False, *more),
                card["event_key"],
                f"card:{msgid}",
                at,
                task_id=task,
                selections=selections,
            )
        if etype == "feedback_event":
            fb = event.get("feedback_event") or {}
            if not isinstance(fb, dict):
                raise BadMessage("feedback_event is not an object")
            reasons = tuple(int(r) for r in fb.get("inaccurate_reason_list") or [] if isinstance(r, int))
            rating = fb.get("type") if isinstance(fb.get("type"), int) else 0
            return Feedback(
                origin("feedback"),
                f"feedback:{msgid}",
                at,
                feedback_id=str(fb.get("id", ""))[:256],
                rating=rating,
                comment=str(fb.get("content") or "")[:2000],
                reasons=reasons,
            )
        return None  # disconnected_event and kinds added later: nothing to do
    if msgtype == "text":
        text = _str(body, "text", "content")
    elif msgtype == "mixed":
        text = _mixed_text(body.get("mixed") or {})
    elif msgtype == "voice":
        text = _str(body, "voice", "content")
    elif msgtype in ("image", "file", "video"):
        return Unreadable(msgid, msgtype, sid)
    else:
        return None
    text = strip_mention(text[:MAX_TEXT], bot_name)
    return ChatMessage(
        origin("msg", True, ("feedback", feedback_id_for(msgid))),
        text,
        f"msg:{msgid}",
        at,
        is_voice=msgtype == "voice",
        quote=_quote_text(body.get("quote"))[:MAX_TEXT],
    )
