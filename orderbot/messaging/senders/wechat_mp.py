"""WeChat Official Account template messages to customers (e.g. 订单发货通知), with an email fallback.

Template ids and field keys come from the business config (category templates name their keys per template);
each field is cut to 20 characters as WeChat requires; `client_msg_id` makes a retried send arrive once.
A customer who does not follow the account (43101) gets the same notice by email when we have an address.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from orderbot.messaging.senders.base import Limit, SendError, TokenCache, request_json
from orderbot.messaging.senders.email import EmailSender

log = logging.getLogger("orderbot.wechat_mp")
NOT_SUBSCRIBED = 43101


class WeChatMpApi:
    def __init__(self, http: aiohttp.ClientSession, *, base: str, app_id: str, secret: str):
        self.http, self.base, self.app_id, self._secret = http, base.rstrip("/"), app_id, secret
        self.tokens = TokenCache(self._fetch_token)

    async def _fetch_token(self) -> tuple[str, int]:
        _, data = await request_json(
            self.http,
            "GET",
            f"{self.base}/cgi-bin/token",
            what="公众号接口",
            params={"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret},
        )
        if "access_token" not in data:
            raise SendError(
                f"公众号获取令牌失败：{data.get('errmsg')}", code=data.get("errcode"), permanent=True, alert=True
            )
        return data["access_token"], int(data.get("expires_in", 7200))

    async def send_template(self, body: dict) -> dict:
        for attempt in range(2):
            token = await self.tokens.get()
            _, data = await request_json(
                self.http,
                "POST",
                f"{self.base}/cgi-bin/message/template/send",
                what="公众号接口",
                params={"access_token": token},
                json=body,
            )
            code = data.get("errcode", 0)
            if code == 0:
                return data
            if code in (40001, 40014, 42001) and attempt == 0:
                self.tokens.invalidate(token)
                continue
            if code == 45009:
                raise SendError("公众号接口限流", code=code, retry_after=60)
            if code == -1:
                raise SendError("公众号系统繁忙", code=code)
            raise SendError(f"公众号返回错误：{data.get('errmsg')}", code=code, permanent=True)
        raise AssertionError("unreachable")


class WeChatMpSender:
    """Destination `openid:<openid>`; payload {template, fields, text, email, client_msg_id, url}."""

    channel = "wechat_mp"

    def __init__(self, api: WeChatMpApi, templates: dict[str, Any], email: EmailSender | None = None):
        self.api, self.templates, self.email = api, templates, email
        self.fallbacks: list[dict[str, str]] = []  # what went by email instead, for the communications log

    def limit_for(self, destination: str) -> Limit | None:
        return None

    async def send(self, destination: str, kind: str, payload: dict[str, Any], progress: dict[str, Any]) -> str | None:
        openid = destination.removeprefix("openid:")
        template = self.templates.get(payload["template"])
        if template is None:
            raise SendError(f"业务配置里没有公众号模板 {payload['template']}", permanent=True)
        data = {
            key: {"value": str(payload["fields"].get(name, ""))[:20].replace("\n", " ")}
            for name, key in template.keys.items()
        }
        body = {
            "touser": openid,
            "template_id": template.template_id,
            "data": data,
            "client_msg_id": payload["client_msg_id"][:64],
        }
        if payload.get("url"):
            body["url"] = payload["url"]
        try:
            await self.api.send_template(body)
            return None
        except SendError as exc:
            if exc.code != NOT_SUBSCRIBED:
                raise
            address = payload.get("email")
            if not address or self.email is None:
                raise SendError("客户未关注公众号（43101），且没有可用的邮箱", code=exc.code, permanent=True) from exc
            await self.email.send_mail(address, payload.get("subject") or "订单通知", payload.get("text", ""))
            self.fallbacks.append({"openid": openid, "email": address, "client_msg_id": payload["client_msg_id"]})
            log.info("customer %s does not follow the account; notice sent by email", openid)
            return f"43101 客户未关注公众号，已改发邮件至 {address}"
