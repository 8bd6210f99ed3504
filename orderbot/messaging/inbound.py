"""Platform-neutral inbound values. `webhooks/` turns WeCom, DingTalk and sandbox traffic into these;
handlers never see a raw payload."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Origin:
    """Who sent it, from where, and how to answer: `reply_channel`/`reply_to` address the outbox."""

    platform: str  # wecom | dingtalk | sandbox
    user_id: str  # the platform's user id
    chat_id: str | None = None  # group chat, if any
    reply_channel: str = "sandbox"
    reply_to: str = ""
    reply_route: tuple[tuple[str, str], ...] = ()  # extra routing a channel needs (DingTalk session webhook)

    @property
    def in_group(self) -> bool:
        return self.chat_id is not None


@dataclass(frozen=True)
class ChatMessage:
    origin: Origin
    text: str
    dedupe_key: str
    at: datetime
    is_voice: bool = False
    media_id: str | None = None  # a voice message's media, for a speech-to-text hook
    quote: str = ""  # the text of a quoted message (WeCom AI bot): context such as the order it names


@dataclass(frozen=True)
class ScanEvent:
    origin: Origin
    raw: str  # as the scanner sent it, e.g. 'QR_CODE,OB1|SO…|…' or just the text
    dedupe_key: str
    at: datetime
    scan_type: str = "qrcode"
    station: str | None = None  # the scanner menu's EventKey
    wants_reply: bool = False  # scancode_waitmsg: the client waits for our answer

    @property
    def text(self) -> str:
        """The scanned content without a symbology prefix such as 'QR_CODE,' or 'EAN_13,'."""
        head, sep, rest = self.raw.partition(",")
        if sep and head.replace("_", "").isalnum() and head.upper() == head and "|" not in head:
            return rest
        return self.raw


@dataclass(frozen=True)
class CardAction:
    origin: Origin
    key: str  # the clicked button's key, '<action>:<argument>'
    dedupe_key: str
    at: datetime
    task_id: str | None = None
    response_code: str | None = None  # WeCom's one-time code for update_template_card
    selections: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class EnterAgent:
    origin: Origin
    dedupe_key: str
    at: datetime


@dataclass(frozen=True)
class Feedback:
    """A person rated a reply (WeCom AI bot feedback_event): 1 accurate, 2 inaccurate, 3 withdrawn."""

    origin: Origin
    dedupe_key: str
    at: datetime
    feedback_id: str = ""
    rating: int = 0
    comment: str = ""
    reasons: tuple[int, ...] = ()


InboundEvent = ChatMessage | ScanEvent | CardAction | EnterAgent | Feedback


_KINDS = {"chat": ChatMessage, "scan": ScanEvent, "card": CardAction, "enter": EnterAgent, "feedback": Feedback}
_NAMES = {cls: name for name, cls in _KINDS.items()}


def event_to_dict(event: InboundEvent) -> dict:
    """A JSON-safe form for the inbox row, so an acknowledged event survives a crash before it is processed."""
    data = {k: getattr(event, k) for k in event.__dataclass_fields__}
    data["origin"] = {**event.origin.__dict__, "reply_route": [list(p) for p in event.origin.reply_route]}
    data["at"] = event.at.isoformat()
    if isinstance(event, CardAction):
        data["selections"] = {k: list(v) for k, v in event.selections.items()}
    return {"kind": _NAMES[type(event)], **data}


def event_from_dict(data: dict) -> InboundEvent:
    data = dict(data)
    cls = _KINDS[data.pop("kind")]
    o = data.pop("origin")
    data["origin"] = Origin(**{**o, "reply_route": tuple(tuple(p) for p in o.get("reply_route", ()))})
    data["at"] = datetime.fromisoformat(data["at"])
    if cls is CardAction:
        data["selections"] = {k: tuple(v) for k, v in data.get("selections", {}).items()}
    if cls is Feedback:
        data["reasons"] = tuple(data.get("reasons", ()))
    return cls(**data)
