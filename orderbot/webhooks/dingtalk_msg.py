"""DingTalk robot messages (HTTP callback and Stream mode carry the same JSON) → neutral inbound values.

Card buttons on DingTalk are markdown links of the `dtmd://dingtalkclient/sendMessage` kind: tapping one sends
'#btn <key>' as the person, so the click arrives authenticated, as a message, and becomes a `CardAction`.
"""

from __future__ import annotations

from datetime import datetime, UTC

from orderbot.messaging.dingtalk_hosts import session_webhook_allowed
from orderbot.messaging.inbound import CardAction, ChatMessage, InboundEvent, Origin, ScanEvent

BUTTON_PREFIX = "#btn "
LABEL_PREFIX = "OB1|"
MAX_TEXT = 8192  # characters of message text kept (DingTalk's own limit for a text message is 5,000)
_MS_MIN, _MS_MAX = 946_684_800_000, 4_102_444_800_000  # 2000-01-01 … 2100-01-01 in ms


class BadMessage(ValueError):
    pass


def _str(body: dict, key: str, *, required: bool = False, limit: int = 256) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadMessage(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise BadMessage(f"{key} must be a string")
    if len(value) > limit:
        raise BadMessage(f"{key} is longer than {limit} characters")
    return value


def _ms(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not _MS_MIN <= value <= _MS_MAX:
        raise BadMessage(f"{key} must be a time in milliseconds")
    return value


def _obj(body: dict, key: str) -> dict:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMessage(f"{key} must be an object")
    return value


def _text(body: dict) -> tuple[str, bool]:
    kind = body.get("msgtype")
    if kind == "text":
        return (_str(_obj(body, "text"), "content", limit=MAX_TEXT) or "").strip(), False
    content = _obj(body, "content")
    if kind == "richText":
        parts = content.get("richText") or []
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise BadMessage("content.richText must be a list of objects")
        return "".join(_str(p, "text", limit=MAX_TEXT) or "" for p in parts)[:MAX_TEXT].strip(), False
    if kind == "audio":
        return (_str(content, "recognition", limit=MAX_TEXT) or "").strip(), True
    return "", False


def sender_of(body: object) -> str | None:
    """The sender's enterprise user id (senderStaffId, else senderId), if it is a sensible string."""
    if not isinstance(body, dict):
        return None
    for key in ("senderStaffId", "senderId"):
        value = body.get(key)
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return None


def to_event(body: dict, *, robot_code: str | None = None, api_base: str | None = None) -> InboundEvent | None:
    """The inbound value for a DingTalk robot message; `BadMessage` (a 400) for any field of the wrong shape. A
    sessionWebhook on a host that is not DingTalk's (or `api_base`'s) is dropped: the reply goes by the OpenAPI."""
    if not isinstance(body, dict):
        raise BadMessage("body must be a JSON object")
    msg_id = _str(body, "msgId", required=True, limit=128)
    user = sender_of(body)
    if not user:
        raise BadMessage("senderStaffId is required (a string of at most 64 characters)")
    if body.get("conversationType") not in (None, "1", "2"):
        raise BadMessage('conversationType must be "1" or "2"')
    group = body.get("conversationType") == "2"
    conversation = _str(body, "conversationId", required=group, limit=128)
    if body.get("msgtype") is not None and not isinstance(body.get("msgtype"), str):
        raise BadMessage("msgtype must be a string")
    route = {"robot_code": _str(body, "robotCode", limit=128) or robot_code or ""}
    session, expires = body.get("sessionWebhook"), _ms(body, "sessionWebhookExpiredTime")
    if session and session_webhook_allowed(session, api_base):
        route["session"] = session
        route["session_expires"] = str(expires or 0)
    if group:
        route["at_user"] = user
    origin = Origin(
        "dingtalk",
        user,
        conversation if group else None,
        reply_channel="dingtalk",
        reply_to=f"group:{conversation}" if group else f"user:{user}",
        reply_route=tuple(sorted(route.items())),
    )
    created = _ms(body, "createAt")
    at = datetime.fromtimestamp(created / 1000, tz=UTC) if created else datetime.now(UTC)
    text, is_voice = _text(body)
    if text.startswith(LABEL_PREFIX):  # a label scanned with the phone and sent to the robot
        return ScanEvent(origin, text, f"msg:{msg_id}", at, station=f"dingtalk:{user}")
    if text.startswith(BUTTON_PREFIX):
        return CardAction(origin, text[len(BUTTON_PREFIX) :].strip(), f"msg:{msg_id}", at)
    if body.get("msgtype") not in ("text", "richText", "audio"):
        return None
    return ChatMessage(origin, text, f"msg:{msg_id}", at, is_voice=is_voice)
