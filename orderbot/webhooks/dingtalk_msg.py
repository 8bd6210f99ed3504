"""DingTalk robot messages (HTTP callback and Stream mode carry the same JSON) → neutral inbound values.

Card buttons on DingTalk are markdown links of the `dtmd://dingtalkclient/sendMessage` kind: tapping one sends
'#btn <key>' as the person, so the click arrives authenticated, as a message, and becomes a `CardAction`.
"""
from __future__ import annotations

from datetime import datetime, timezone

from orderbot.messaging.inbound import CardAction, ChatMessage, InboundEvent, Origin, ScanEvent

BUTTON_PREFIX = "#btn "
LABEL_PREFIX = "OB1|"


class BadMessage(ValueError):
    pass


def _text(body: dict) -> tuple[str, bool]:
    kind = body.get("msgtype")
    if kind == "text":
        return (body.get("text") or {}).get("content", "").strip(), False
    content = body.get("content") or {}
    if kind == "richText":
        return "".join(part.get("text", "") for part in content.get("richText", []) if "text" in part).strip(), False
    if kind == "audio":
        return (content.get("recognition") or "").strip(), True
    return "", False


def to_event(body: dict, *, robot_code: str | None = None) -> InboundEvent | None:
    if not isinstance(body, dict):
        raise BadMessage("body must be a JSON object")
    msg_id = body.get("msgId")
    user = body.get("senderStaffId") or body.get("senderId")
    if not msg_id or not user:
        raise BadMessage("msgId and senderStaffId are required")
    group = body.get("conversationType") == "2"
    conversation = body.get("conversationId")
    route = {"robot_code": body.get("robotCode") or robot_code or ""}
    if body.get("sessionWebhook"):
        route["session"] = body["sessionWebhook"]
        route["session_expires"] = str(body.get("sessionWebhookExpiredTime") or 0)
    if group:
        route["at_user"] = user
    origin = Origin("dingtalk", user, conversation if group else None, reply_channel="dingtalk",
                    reply_to=f"group:{conversation}" if group else f"user:{user}",
                    reply_route=tuple(sorted(route.items())))
    created = body.get("createAt")
    at = datetime.fromtimestamp(int(created) / 1000, tz=timezone.utc) if created else datetime.now(timezone.utc)
    text, is_voice = _text(body)
    if text.startswith(LABEL_PREFIX):  # a label scanned with the phone and sent to the robot
        return ScanEvent(origin, text, f"msg:{msg_id}", at, station=f"dingtalk:{user}")
    if text.startswith(BUTTON_PREFIX):
        return CardAction(origin, text[len(BUTTON_PREFIX):].strip(), f"msg:{msg_id}", at)
    if body.get("msgtype") not in ("text", "richText", "audio"):
        return None
    return ChatMessage(origin, text, f"msg:{msg_id}", at, is_voice=is_voice)
