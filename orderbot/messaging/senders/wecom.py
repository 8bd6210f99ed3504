"""WeCom outbound: the app API (people and app group chats) and group robots.

Limits from the platform (reference/wecom_dingtalk.md §4): app text and markdown ≤ 2048 bytes, robot markdown
≤ 4096 and text ≤ 2048 bytes, robot images ≤ 2 MB before base64 with their md5, 20 robot messages a minute,
30 app messages a minute per person. Errors: 42001/40014 refetch the token once; 45009 waits ≥ 60 s;
60020 (IP not trusted) is a configuration problem a person must fix and is never retried.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from typing import Any

import aiohttp

from orderbot.messaging.png import shrink_png
from orderbot.messaging.markup import escape_card_text, plain
from orderbot.messaging.reply import Card, Reply
from orderbot.messaging.senders.base import Limit, SendError, TokenCache, request_json
from orderbot.messaging.text import reply_markdown, reply_plain, split_utf8

log = logging.getLogger("orderbot.wecom")

APP_TEXT_LIMIT = 2048
ROBOT_MARKDOWN_LIMIT = 4096
ROBOT_TEXT_LIMIT = 2048
ROBOT_IMAGE_LIMIT = 2 * 1024 * 1024
TOKEN_ERRORS = {40014, 42001}
RATE_ERRORS = {45009, 45033, 45011}


def classify_error(errcode: int, errmsg: str) -> SendError:
    """A WeCom server API errcode (the app, the group robot and 消息推送 webhooks) as a SendError."""
    if errcode in RATE_ERRORS:
        return SendError(f"企业微信限流：{errmsg}", code=errcode, retry_after=60)
    if errcode == 60020:
        return SendError(
            "企业微信拒绝了本服务器的IP（60020）：请在应用的「企业可信IP」中加入本机出口IP",
            code=errcode,
            permanent=True,
            alert=True,
        )
    if errcode in (40001, 40013, 48002):
        return SendError(f"企业微信凭证或权限错误：{errmsg}", code=errcode, permanent=True, alert=True)
    if errcode == -1:
        return SendError(f"企业微信系统繁忙：{errmsg}", code=errcode)
    return SendError(f"企业微信返回错误：{errmsg}", code=errcode, permanent=True)


class WeComApi:
    def __init__(self, http: aiohttp.ClientSession, *, base: str, corp_id: str, secret: str, agent_id: int):
        self.http, self.base, self.corp_id, self.agent_id = http, base.rstrip("/"), corp_id, agent_id
        self._secret = secret
        self.tokens = TokenCache(self._fetch_token)

    async def _fetch_token(self) -> tuple[str, int]:
        _, data = await request_json(
            self.http,
            "GET",
            f"{self.base}/cgi-bin/gettoken",
            what="企业微信",
            params={"corpid": self.corp_id, "corpsecret": self._secret},
        )
        if data.get("errcode", 0) != 0:
            raise classify_error(data["errcode"], data.get("errmsg", ""))
        return data["access_token"], int(data.get("expires_in", 7200))

    async def call(
        self, path: str, *, json: dict | None = None, form: aiohttp.FormData | None = None, params: dict | None = None
    ) -> dict:
        for attempt in range(2):
            token = await self.tokens.get()
            query = {"access_token": token, **(params or {})}
            _, data = await request_json(
                self.http, "POST", f"{self.base}/cgi-bin/{path}", what="企业微信", params=query, json=json, data=form
            )
            code = data.get("errcode", 0)
            if code == 0:
                return data
            if code in TOKEN_ERRORS and attempt == 0:
                self.tokens.invalidate(token)
                continue
            raise classify_error(code, data.get("errmsg", ""))
        raise AssertionError("unreachable")

    async def upload_image(self, png: bytes, filename: str = "chart.png") -> str:
        form = aiohttp.FormData()
        form.add_field("media", io.BytesIO(png), filename=filename, content_type="image/png")
        data = await self.call("media/upload", form=form, params={"type": "image"})
        return data["media_id"]

    async def upload_file(self, content: bytes, filename: str, mime: str) -> str:
        form = aiohttp.FormData()
        form.add_field("media", io.BytesIO(content), filename=filename, content_type=mime)
        data = await self.call("media/upload", form=form, params={"type": "file"})
        return data["media_id"]


def button_card(card: Card, task_id: str | None) -> dict[str, Any]:
    """A WeCom `button_interaction` template card, as the app and the AI bot both send it: title, description, up
    to six fields and six buttons cut to WeCom's lengths. A card shows text as is, one line a field, so every
    value is made plain (`escape_card_text`: the markers of outside values, control characters and line breaks
    go) before it is cut."""
    body: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": {"title": escape_card_text(card.title)[:36], "desc": escape_card_text(card.description)[:44]},
        "task_id": task_id,
        "button_list": [
            {"text": escape_card_text(b.text)[:10], "style": b.style, "key": b.key[:1024]} for b in card.buttons[:6]
        ],
    }
    if card.fields:
        body["horizontal_content_list"] = [
            {"keyname": escape_card_text(k)[:10], "value": escape_card_text(str(v))[:30]} for k, v in card.fields[:6]
        ]
    return body


def card_summary(reply: Reply) -> str:
    """A card's subtitle when the reply's whole text went before it: the text's first line, plain, with … when
    more follows. Empty when the card's description already begins with that line (a confirmation's card carries
    the sentence as its description: once on the card is enough)."""
    text = plain(reply.text)
    if reply.markdown:  # the handler's own marks (the reply's markdown is rendered in the text before the card)
        text = text.replace("**", "").replace("### ", "")
    first, _, rest = text.strip().partition("\n")
    desc = escape_card_text(reply.card.description) if reply.card else ""
    n = min(len(first), len(desc), 20)
    if n and first[:n] == desc[:n]:
        return ""
    return first[:60] + ("…" if len(first) > 60 or rest.strip() else "")


def template_card(reply: Reply, agent_id: int) -> dict:
    body = button_card(reply.card, reply.card.task_id)
    if summary := card_summary(reply):  # the whole text went before the card (`card_carries_all`)
        body["sub_title_text"] = summary
    return body


def card_carries_all(reply: Reply) -> bool:
    """Whether the button card alone shows everything the reply says (else its markdown goes first, whole)."""
    card = reply.card
    return (
        not (reply.text or reply.table or (reply.title and reply.title != card.title))
        and len(card.title) <= 36
        and len(card.description) <= 44
        and len(card.fields) <= 6
        and all(len(k) <= 10 and len(str(v)) <= 30 for k, v in card.fields)
    )


class WeComAppSender:
    """Messages from the WeCom app to people (`user:<userid>`) and app group chats (`chat:<chatid>`)."""

    channel = "wecom"

    def __init__(self, api: WeComApi):
        self.api = api

    def limit_for(self, destination: str) -> Limit | None:
        return Limit(30, 60) if destination.startswith("user:") else Limit(200, 60)

    async def _post(self, destination: str, msg: dict) -> dict:
        kind, _, target = destination.partition(":")
        if kind == "user":
            body = {
                "touser": target,
                "agentid": self.api.agent_id,
                "enable_duplicate_check": 1,
                "duplicate_check_interval": 1800,
                **msg,
            }
            return await self.api.call("message/send", json=body)
        if kind == "chat":
            return await self.api.call("appchat/send", json={"chatid": target, **msg})
        raise SendError(f"无法识别的企业微信目标 {destination}", permanent=True)

    async def send(self, destination: str, kind: str, payload: dict, progress: dict) -> None:
        if kind == "card_update":
            await self.api.call("message/update_template_card", json={**payload, "agentid": self.api.agent_id})
            return
        reply = Reply.from_dict(payload)
        steps: list[tuple[str, Any]] = []
        with_card = bool(reply.card and reply.card.buttons and destination.startswith("user:"))
        text = "" if with_card and card_carries_all(reply) else reply_markdown(reply)
        for i, _part in enumerate(split_utf8(text, APP_TEXT_LIMIT) if text else []):
            steps.append(("markdown", i))
        if with_card:  # after the text it acts on; it carries the buttons and a summary
            steps.append(("card", None))
        for i in range(len(reply.charts)):
            steps.append(("chart", i))
        for i in range(len(reply.files)):
            steps.append(("file", i))
        parts = split_utf8(text, APP_TEXT_LIMIT) if text else []
        done = progress.setdefault("done", 0)
        for step_no, (what, index) in enumerate(steps):
            if step_no < done:
                continue  # delivered in an earlier attempt
            if what == "card":
                await self._post(
                    destination, {"msgtype": "template_card", "template_card": template_card(reply, self.api.agent_id)}
                )
            elif what == "markdown":
                await self._post(destination, {"msgtype": "markdown", "markdown": {"content": parts[index]}})
            elif what == "chart":
                media = await self.api.upload_image(reply.charts[index].png)
                await self._post(destination, {"msgtype": "image", "image": {"media_id": media}})
            else:
                f = reply.files[index]
                media = await self.api.upload_file(f.content, f.filename, f.mime)
                await self._post(destination, {"msgtype": "file", "file": {"media_id": media}})
            progress["done"] = step_no + 1


class WeComRobotSender:
    """Group robot webhooks (`robot:<key>`): text with mentions, markdown with <@userid>, base64 images."""

    channel = "wecom_robot"

    def __init__(self, http: aiohttp.ClientSession, base: str):
        self.http, self.base = http, base.rstrip("/")

    def limit_for(self, destination: str) -> Limit | None:
        return Limit(20, 60)

    async def _post(self, key: str, body: dict) -> None:
        # A body with a base64 image can be ~2.7 MB: stream it rather than hand aiohttp one large bytes object.
        raw = io.BytesIO(json.dumps(body, ensure_ascii=False).encode("utf-8"))
        _, data = await request_json(
            self.http,
            "POST",
            f"{self.base}/cgi-bin/webhook/send",
            what="企业微信机器人",
            params={"key": key},
            data=raw,
            headers={"Content-Type": "application/json"},
        )
        if data.get("errcode", 0) != 0:
            raise classify_error(data["errcode"], data.get("errmsg", ""))

    async def send(self, destination: str, kind: str, payload: dict, progress: dict) -> None:
        key = destination.removeprefix("robot:")
        reply = Reply.from_dict(payload)
        bodies: list[dict] = []
        if reply.markdown or reply.table or reply.card or reply.title:
            text = reply_markdown(reply)
            if reply.mentions:
                text += "\n" + " ".join(f"<@{m}>" for m in reply.mentions)
            bodies += [
                {"msgtype": "markdown", "markdown": {"content": p}} for p in split_utf8(text, ROBOT_MARKDOWN_LIMIT)
            ]
        elif reply.text:
            parts = split_utf8(reply_plain(reply), ROBOT_TEXT_LIMIT)
            bodies += [
                {"msgtype": "text", "text": {"content": p, "mentioned_list": list(reply.mentions)}} for p in parts
            ]
        for chart in reply.charts:
            png = shrink_png(chart.png, ROBOT_IMAGE_LIMIT)
            bodies.append(
                {
                    "msgtype": "image",
                    "image": {"base64": base64.b64encode(png).decode(), "md5": hashlib.md5(png).hexdigest()},
                }
            )
        done = progress.setdefault("done", 0)
        for i, body in enumerate(bodies):
            if i < done:
                continue
            await self._post(key, body)
            progress["done"] = i + 1
