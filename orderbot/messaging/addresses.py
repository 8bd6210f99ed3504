"""Where a staff member or a customer is reached, given the channels this deployment has configured.

Staff: the WeCom app when configured and the person has a WeCom id, else DingTalk, else the sandbox (the demo).
Customers: the WeChat Official Account when configured and we know their openid (the sender falls back to email
by itself on 43101), else email, else the sandbox.
"""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Staff
from orderbot.core.warehouse.scanning import CustomerNotice
from orderbot.bot.reply import Reply


class Addresses:
    def __init__(self, channels: set[str]):
        self.channels = channels

    async def staff(self, session: AsyncSession, staff_id: str) -> tuple[str, str]:
        person = await session.get(Staff, staff_id)
        if person is not None and person.wecom_userid and "wecom" in self.channels:
            return "wecom", f"user:{person.wecom_userid}"
        if person is not None and person.wecom_userid and "wecom_aibot" in self.channels:
            return "wecom_aibot", f"user:{person.wecom_userid}"
        if person is not None and person.dingtalk_userid and "dingtalk" in self.channels:
            return "dingtalk", f"user:{person.dingtalk_userid}"
        return "sandbox", f"user:{staff_id}"

    def customer(self, notice: CustomerNotice) -> tuple[str, str, str, dict]:
        """(channel, destination, kind, payload) for a customer's shipment notice."""
        if notice.openid and "wechat_mp" in self.channels:
            return "wechat_mp", f"openid:{notice.openid}", "customer", {
                "template": "shipment", "fields": notice.fields, "text": notice.text, "email": notice.email,
                "subject": "您的订单已发出", "client_msg_id": f"ship-{notice.order_no}"}
        # The seed's message ("已发出|单号:YT…"), with the order number in front when the line does not carry it.
        text = notice.text if notice.order_no in notice.text else f"订单 {notice.order_no} {notice.text}"
        reply = Reply(title="您的订单已发出", text=text).to_dict()
        if notice.email and "email" in self.channels:
            return "email", f"email:{notice.email}", "reply", reply
        return "sandbox", f"customer:{notice.customer_id}", "reply", reply
