"""The customer's shipment message: "已发出|单号:<tracking no>|<carrier>", sent once, only with a tracking number.

When the last package is scanned and the order already has a waybill, the scan sends it; when the waybill comes
later (the courier batch), the batch sends it then. Both queue it under the key `ship:<order no>`, so it goes
out once. The 服务号 template gets every field: order no, shipped at, product, carrier name, tracking no.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Carrier, Communication, Customer, Order, OrderLine, Package, Product


@dataclass(frozen=True)
class CustomerNotice:
    customer_id: str
    openid: str | None
    email: str | None
    order_no: str
    text: str
    fields: dict[str, str]
    order_id: int | None = None  # known where the notice is made; else looked up by order_no when needed


def shipment_text(tracking_no: str, carrier_name: str | None) -> str:
    """The seed's line, "已发出|单号:YT123456789CN", with the carrier's name after it when known."""
    return f"已发出|单号:{tracking_no}" + (f"|{carrier_name}" if carrier_name else "")


def notice(
    *,
    customer_id: str,
    openid: str | None,
    email: str | None,
    order_no: str,
    tracking_no: str,
    carrier_name: str | None,
    product: str | None,
    shipped_at: datetime,
    zone: ZoneInfo,
    order_id: int | None = None,
) -> CustomerNotice:
    return CustomerNotice(
        customer_id,
        openid,
        email,
        order_no,
        shipment_text(tracking_no, carrier_name),
        {
            "order_no": order_no,
            "shipped_at": f"{shipped_at.astimezone(zone):%Y-%m-%d %H:%M}",
            "product": product or "",
            "carrier": carrier_name or "",
            "tracking_no": tracking_no,
        },
        order_id,
    )


def communication_row(order_id: int, party: str | None, text: str, now: datetime) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "at": now,
        "direction": "out",
        "medium": "wechat",
        "party": party,
        "summary": f"发货通知：{text}",
    }


async def notice_for_order(
    session: AsyncSession, order: Order, *, now: datetime, zone: ZoneInfo
) -> CustomerNotice | None:
    """The notice for an order that has just got its waybill (None without one), recorded as a communication."""
    tracking = (
        order.tracking_no
        or (
            await session.execute(
                select(Package.tracking_no)
                .where(Package.order_id == order.id, Package.tracking_no.is_not(None))
                .limit(1)
            )
        ).scalar()
    )
    if not tracking:
        return None
    customer = await session.get(Customer, order.customer_id)
    carrier = (
        (await session.execute(select(Carrier.name).where(Carrier.code == order.carrier_code))).scalar()
        if order.carrier_code
        else None
    )
    product = (
        await session.execute(
            select(Product.name)
            .join(OrderLine, OrderLine.sku == Product.sku)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
            .limit(1)
        )
    ).scalar()
    made = notice(
        customer_id=order.customer_id,
        openid=customer.wechat_openid if customer else None,
        email=customer.email if customer else None,
        order_no=order.order_no,
        tracking_no=tracking,
        carrier_name=carrier,
        product=product,
        shipped_at=order.shipped_at or now,
        zone=zone,
        order_id=order.id,
    )
    session.add(Communication(**communication_row(order.id, customer.name if customer else None, made.text, now)))
    return made
