"""Purchase tasks opened from the stockout forecast: one per SKU and day, for the staff the business config
names for purchasing (`[purchasing] staff`, else everyone with the `purchasing` role)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.errors import DomainError, UnknownSku
from orderbot.core.models import Product
from orderbot.core.orders.service import open_task

TASK_TYPE = "purchase"


@dataclass(frozen=True)
class PurchaseTask:
    sku: str
    qty: int
    assignee: str | None
    created: bool  # False: today's task for this SKU was already open


def purchasers(config: BusinessConfig) -> list[str]:
    if config.purchasing.staff:
        return list(config.purchasing.staff)
    return [s.id for s in config.staff if "purchasing" in s.roles]


async def open_purchase_task(
    session: AsyncSession, config: BusinessConfig, sku: str, qty: int, *, now: datetime, actor: str
) -> PurchaseTask:
    if qty <= 0:
        raise DomainError(f"采购数量必须大于0：{qty}")
    product = await session.get(Product, sku)
    if product is None:
        raise UnknownSku(sku)
    people = purchasers(config)
    assignee = people[0] if people else None
    day = now.astimezone(ZoneInfo(config.timezone)).date()
    created = await open_task(
        session,
        key=f"{TASK_TYPE}:{sku}:{day.isoformat()}",
        type=TASK_TYPE,
        subject=f"紧急采购 {sku} {product.name} ×{qty}（断货预测）",
        now=now,
        assignee=assignee,
        data={"sku": sku, "qty": qty, "by": actor},
    )
    return PurchaseTask(sku, qty, assignee, created)
