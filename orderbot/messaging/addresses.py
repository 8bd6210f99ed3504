"""Where a staff member or a customer is reached, given the channels this deployment has configured.

Staff: the WeCom app when configured and the person has a WeCom id, else DingTalk, else the sandbox when this
is the demo (the sandbox channel exists only in `orderbot demo` and in tests that ask for it). Nobody else is
"sent" to the sandbox: a staff member with no usable platform id gets a dead outbox row saying why.
Customers: the WeChat Official Account when configured and we know their openid (the sender falls back to email
by itself on 43101), else email. A shipment notice with no way to reach the customer becomes a task for
customer service ("无法通知客户…") and a dead outbox row saying why; it is never marked sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core import outbox
from orderbot.core.models import Staff
from orderbot.core.notices import customer_unreachable
from orderbot.core.warehouse.scanning import CustomerNotice
from orderbot.messaging.reply import Reply

SANDBOX = "sandbox"


class Addresses:
    def __init__(self, channels: set[str]):
        self.channels = channels

    async def staff(self, session: AsyncSession, staff_id: str) -> tuple[str, str]:
        """(channel, destination); `outbox.UNREACHABLE` when the person cannot be reached here."""
        person = await session.get(Staff, staff_id)
        if person is not None and person.wecom_userid and "wecom" in self.channels:
            return "wecom", f"user:{person.wecom_userid}"
        if person is not None and person.wecom_userid and "wecom_aibot" in self.channels:
            return "wecom_aibot", f"user:{person.wecom_userid}"
        if person is not None and person.dingtalk_userid and "dingtalk" in self.channels:
            return "dingtalk", f"user:{person.dingtalk_userid}"
        if SANDBOX in self.channels:
            return SANDBOX, f"user:{staff_id}"
        return outbox.UNREACHABLE, f"staff:{staff_id}"

    def customer(self, notice: CustomerNotice) -> tuple[str, str, str, dict]:
        """(channel, destination, kind, payload) for a customer's shipment notice; the channel is
        `outbox.UNREACHABLE` when there is no way to reach the customer."""
        if notice.openid and "wechat_mp" in self.channels:
            return (
                "wechat_mp",
                f"openid:{notice.openid}",
                "customer",
                {
                    "template": "shipment",
                    "fields": notice.fields,
                    "text": notice.text,
                    "email": notice.email,
                    "subject": "您的订单已发出",
                    "client_msg_id": f"ship-{notice.order_no}",
                },
            )
        # The seed's message ("已发出|单号:YT…"), with the order number in front when the line does not carry it.
        text = notice.text if notice.order_no in notice.text else f"订单 {notice.order_no} {notice.text}"
        reply = Reply(title="您的订单已发出", text=text).to_dict()
        if notice.email and "email" in self.channels:
            return "email", f"email:{notice.email}", "reply", reply
        if SANDBOX in self.channels:
            return SANDBOX, f"customer:{notice.customer_id}", "reply", reply
        return outbox.UNREACHABLE, f"customer:{notice.customer_id}", "reply", reply

    async def notify_customer(self, session: AsyncSession, notice: CustomerNotice, *, now: datetime) -> bool:
        """Queue the shipment notice in the caller's transaction (once per order); with no way to reach the
        customer, open a customer-service task and keep a dead row saying why. True if it can go out."""
        channel, destination, kind, payload = self.customer(notice)
        await outbox.enqueue(
            session,
            channel=channel,
            destination=destination,
            kind=kind,
            payload=payload,
            now=now,
            dedupe_key=f"ship:{notice.order_no}",
        )
        if channel != outbox.UNREACHABLE:
            return True
        await customer_unreachable(session, notice, now=now)
        return False
