"""DingTalk outbound through the app robot: the message's session webhook while it is valid, the OpenAPI after.

Markdown with @mentions; charts as images behind signed, expiring links under ORDERBOT_PUBLIC_URL (DingTalk
markdown shows images only by URL); card buttons as `dtmd://dingtalkclient/sendMessage` links that send
'#btn <key>' back as the person who tapped. 20 messages a minute per conversation.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp

from orderbot.core import media
from orderbot.db.engine import Database
from orderbot.messaging.reply import Reply
from orderbot.messaging.senders.base import Limit, SendError, TokenCache, request_json
from orderbot.messaging.links import MediaLinks
from orderbot.messaging.text import reply_markdown, split_utf8
from orderbot.messaging.markup import escape_dingtalk_markdown
from orderbot.messaging.dingtalk_hosts import session_webhook_allowed

MARKDOWN_LIMIT = 5000  # DingTalk documents no markdown limit; bodies over ~20 KB are refused, stay well under
SESSION_MARGIN_MS = 60_000
BUTTON_PREFIX = "#btn "


def button_link(text: str, key: str) -> str:
    return f"[{text}](dtmd://dingtalkclient/sendMessage?content={quote(BUTTON_PREFIX + key)})"


class DingTalkApi:
    def __init__(self, http: aiohttp.ClientSession, *, base: str, app_key: str, app_secret: str):
        self.http, self.base, self.app_key = http, base.rstrip("/"), app_key
        self._secret = app_secret
        self.tokens = TokenCache(self._fetch_token)

    async def _fetch_token(self) -> tuple[str, int]:
        status, data = await request_json(
            self.http,
            "POST",
            f"{self.base}/v1.0/oauth2/accessToken",
            what="钉钉",
            json={"appKey": self.app_key, "appSecret": self._secret},
        )
        if status != 200 or "accessToken" not in data:
            raise SendError(f"钉钉获取令牌失败：{data.get('message') or status}", permanent=True, alert=True)
        return data["accessToken"], int(data.get("expireIn", 7200))

    async def post(self, path: str, body: dict) -> dict:
        for attempt in range(2):
            token = await self.tokens.get()
            status, data = await request_json(
                self.http,
                "POST",
                f"{self.base}{path}",
                what="钉钉",
                json=body,
                headers={"x-acs-dingtalk-access-token": token},
            )
            if status == 200:
                return data
            code = str(data.get("code", ""))
            if status == 401 and attempt == 0:
                self.tokens.invalidate(token)
                continue
            if status == 429 or "QpsLimit" in code or "Throttling" in code:
                raise SendError(f"钉钉限流：{code}", retry_after=60)
            raise SendError(f"钉钉返回错误 {status} {code}：{data.get('message', '')}", permanent=True)
        raise AssertionError("unreachable")


class DingTalkSender:
    channel = "dingtalk"

    def __init__(self, http: aiohttp.ClientSession, api: DingTalkApi | None, db: Database, links: MediaLinks, clock):
        self.http, self.api, self.db, self.links, self.clock = http, api, db, links, clock

    def limit_for(self, destination: str) -> Limit | None:
        return Limit(20, 60)

    async def _markdown(self, reply: Reply) -> tuple[str, str]:
        text = reply_markdown(reply, escape_dingtalk_markdown)
        if reply.card and reply.card.buttons:
            text += "\n\n" + "  ".join(button_link(b.text, b.key) for b in reply.card.buttons)
        for chart in reply.charts:
            now = self.clock()
            async with self.db.write() as session:
                # the row the outbox already keeps for this image (by its content hash), kept a week from now
                media_id, expires = await media.store_once(
                    session, chart.png, "image/png", now=now, ttl=timedelta(days=7)
                )
            text += f"\n\n![{chart.title}]({self.links.url(media_id, expires)})"
        title = reply.title or (reply.card.title if reply.card else "") or "OrderBot"
        return title, text

    async def _session_post(self, url: str, body: dict) -> None:
        _, data = await request_json(self.http, "POST", url, what="钉钉会话", json=body)
        code = data.get("errcode", 0)
        if code == 0:
            return
        if code in (130101, 660026):
            raise SendError(f"钉钉限流：{data.get('errmsg')}", code=code, retry_after=60)
        raise SendError(f"钉钉会话发送失败：{data.get('errmsg')}", code=code, permanent=True)

    async def send(self, destination: str, kind: str, payload: dict[str, Any], progress: dict[str, Any]) -> None:
        reply = Reply.from_dict(payload)
        route = payload.get("_route", {})
        if "parts" not in progress:
            title, text = await self._markdown(reply)
            progress["title"], progress["parts"], progress["done"] = title, split_utf8(text, MARKDOWN_LIMIT), 0
        kind_, _, target = destination.partition(":")
        at_users = [m for m in reply.mentions] + ([route["at_user"]] if route.get("at_user") else [])
        for i, part in enumerate(progress["parts"]):
            if i < progress["done"]:
                continue
            if at_users:
                part += "\n\n" + " ".join(f"@{u}" for u in at_users)
            session_ok = (
                route.get("session")
                and session_webhook_allowed(route["session"], self.api and self.api.base)
                and int(route.get("session_expires", "0")) - SESSION_MARGIN_MS > self.clock().timestamp() * 1000
            )
            if session_ok:
                await self._session_post(
                    route["session"],
                    {
                        "msgtype": "markdown",
                        "markdown": {"title": progress["title"], "text": part},
                        "at": {"atUserIds": at_users},
                    },
                )
            elif self.api is None:
                raise SendError(
                    "钉钉会话已过期，且未配置 DINGTALK_APP_KEY/SECRET，无法通过开放接口发送", permanent=True, alert=True
                )
            else:
                param = json.dumps({"title": progress["title"], "text": part}, ensure_ascii=False)
                robot = route.get("robot_code") or self.api.app_key
                if kind_ == "group":
                    await self.api.post(
                        "/v1.0/robot/groupMessages/send",
                        {
                            "robotCode": robot,
                            "openConversationId": target,
                            "msgKey": "sampleMarkdown",
                            "msgParam": param,
                        },
                    )
                else:
                    await self.api.post(
                        "/v1.0/robot/oToMessages/batchSend",
                        {"robotCode": robot, "userIds": [target], "msgKey": "sampleMarkdown", "msgParam": param},
                    )
            progress["done"] = i + 1
