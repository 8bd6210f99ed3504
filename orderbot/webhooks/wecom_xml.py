"""WeCom XML: hardened parsing and the mapping of decrypted messages to neutral inbound values.

The XML is parsed with defusedxml (no DTDs, no entities, no external references): a hostile body is refused
before anything is decrypted or stored. MsgId stays text, since WeCom now sends non-numeric ids.
template_card_event (which wechatpy does not know) is parsed here, with one or several SelectedItems.
"""

from __future__ import annotations

import re
from datetime import datetime, UTC
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from orderbot.webhooks.limits import TooDeep, check_xml_depth
from orderbot.messaging.inbound import CardAction, ChatMessage, EnterAgent, InboundEvent, Origin, ScanEvent


class BadXml(ValueError):
    """The body is not the XML WeCom sends; the reason is safe to show."""


# WeCom's envelope: <Encrypt><![CDATA[base64]]></Encrypt> (the CDATA is optional). Base64 only, so the match is
# linear and cannot be fooled by markup inside the value.
_ENCRYPT = re.compile(rb"<Encrypt>(?:<!\[CDATA\[([A-Za-z0-9+/=]+)\]\]>|([A-Za-z0-9+/=]+))</Encrypt>")


def encrypted_value(body: bytes) -> str | None:
    """The Encrypt value of a callback envelope without parsing the XML (the signature covers only it), or None
    when there is not exactly one."""
    found = _ENCRYPT.findall(body)
    if len(found) != 1:
        return None
    return (found[0][0] or found[0][1]).decode("ascii")


def parse_xml(data: bytes | str) -> Element:
    """Parse a WeCom XML document: no DTD, entities or external references, at most MAX_XML_DEPTH levels."""
    try:
        check_xml_depth(data)
    except TooDeep as exc:
        raise BadXml(str(exc)) from None
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise BadXml(f"forbidden XML construct: {type(exc).__name__}") from None
    except SafeET.ParseError as exc:
        raise BadXml(f"malformed XML: {exc}") from None
    if root.tag != "xml":
        raise BadXml("root element must be <xml>")
    return root


def fields(root: Element) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() for child in root if len(child) == 0}


def _at(create_time: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(create_time), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        raise BadXml("CreateTime is not a timestamp") from None


def to_event(root: Element) -> InboundEvent | None:
    """Map a decrypted message to an inbound value; None for kinds the bot ignores (acknowledged all the same)."""
    f = fields(root)
    user = f.get("FromUserName")
    if not user:
        raise BadXml("FromUserName missing")
    origin = Origin("wecom", user, None, reply_channel="wecom", reply_to=f"user:{user}")
    at = _at(f.get("CreateTime", ""))
    msg_type = f.get("MsgType")
    if msg_type in ("text", "voice"):
        msg_id = f.get("MsgId")
        if not msg_id:
            raise BadXml("MsgId missing")
        if msg_type == "text":
            return ChatMessage(origin, f.get("Content", ""), f"msg:{msg_id}", at)
        return ChatMessage(origin, "", f"msg:{msg_id}", at, is_voice=True, media_id=f.get("MediaId"))
    if msg_type != "event":
        return None
    event = f.get("Event", "")
    key = f"evt:{user}:{f.get('CreateTime')}:{event}:{f.get('EventKey', '')}"
    if event in ("scancode_push", "scancode_waitmsg"):
        info = root.find("ScanCodeInfo")
        scan = fields(info) if info is not None else {}
        result = scan.get("ScanResult", "")
        return ScanEvent(
            origin,
            result,
            f"{key}:{result}",
            at,
            scan_type=scan.get("ScanType", "qrcode"),
            station=f.get("EventKey") or None,
            wants_reply=event == "scancode_waitmsg",
        )
    if event == "template_card_event":
        selections: dict[str, tuple[str, ...]] = {}
        items = root.find("SelectedItems")
        for item in items.findall("SelectedItem") if items is not None else []:
            q = (item.findtext("QuestionKey") or "").strip()
            selections[q] = tuple((o.text or "").strip() for o in item.iter("OptionId"))
        task = f.get("TaskId")
        return CardAction(
            origin,
            f.get("EventKey", ""),
            f"{key}:{task}",
            at,
            task_id=task,
            response_code=f.get("ResponseCode"),
            selections=selections,
        )
    if event == "enter_agent":
        return EnterAgent(origin, key, at)
    return None
