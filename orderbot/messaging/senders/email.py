"""Email through SMTP_URL (`smtp://user:pass@host:587`, `smtps://…:465`): the customer fallback and notices."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib

from orderbot.messaging.reply import Reply
from orderbot.messaging.senders.base import Limit, SendError
from orderbot.messaging.text import reply_plain


class EmailSender:
    channel = "email"

    def __init__(self, smtp_url: str, *, sender: str | None = None, timeout: float = 20):
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP_URL must start with smtp:// or smtps://")
        self.host, self.port = parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 25)
        self.tls = parts.scheme == "smtps"
        self.user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self.sender = sender or (self.user if self.user and "@" in self.user else "orderbot@localhost")
        self.timeout = timeout

    def limit_for(self, destination: str) -> Limit | None:
        return None

    async def send_mail(self, to: str, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg.set_content(body)
        try:
            await aiosmtplib.send(
                msg,
                hostname=self.host,
                port=self.port,
                username=self.user,
                password=self._password,
                use_tls=self.tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"邮件地址被拒收：{to}", permanent=True) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendError(f"发送邮件失败：{type(exc).__name__}") from exc

    async def send(self, destination: str, kind: str, payload: dict[str, Any], progress: dict[str, Any]) -> None:
        reply = Reply.from_dict(payload)
        await self.send_mail(destination.removeprefix("email:"), reply.title or "OrderBot 通知", reply_plain(reply))
