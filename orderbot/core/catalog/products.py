"""Products: create or update from master data; the customs grade and hazmat fields follow from the config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.catalog.values import ProductIn
from orderbot.core.models import Product
from orderbot.core.stock import ledger

_FIELDS = (
    "name",
    "category",
    "customs_grade",
    "hazmat_class",
    "packing_instruction",
    "weight_g",
    "unit_cost_cents",
    "reorder_point",
    "lead_time_days",
)


def product_values(item: ProductIn, config: BusinessConfig) -> dict[str, Any]:
    """The product row an item describes: the customs grade from the category (`[customs.categories]`), the
    packing instruction from the hazmat note for its UN number (`[hazmat.UNxxxx]`), when there is one."""
    hazmat = config.hazmat.get(item.un_number) if item.un_number else None
    return {
        "sku": item.sku,
        "name": item.name,
        "category": item.category,
        "customs_grade": config.customs.grade_for(item.category),
        "hazmat_class": item.un_number,
        "packing_instruction": hazmat.packing_instruction if hazmat else None,
        "weight_g": item.weight_g or 0,
        "unit_cost_cents": item.unit_cost_cents,
        "reorder_point": item.reorder_point,
        "lead_time_days": item.lead_time_days,
    }


async def upsert_products(session: AsyncSession, items: Sequence[ProductIn], config: BusinessConfig) -> list[str]:
    """Create or update products (a later item for the same SKU wins); one outcome per item: created,
    updated or unchanged. New SKUs get a stock level at zero, so they can be received and ordered."""
    skus = {i.sku for i in items}
    existing = {p.sku: p for p in (await session.execute(select(Product).where(Product.sku.in_(skus)))).scalars()}
    new: dict[str, dict[str, Any]] = {}
    outcomes = []
    for item in items:
        values = product_values(item, config)
        if item.sku in new:
            outcomes.append("unchanged" if new[item.sku] == values else "updated")
            new[item.sku] = values
            continue
        product = existing.get(item.sku)
        if product is None:
            new[item.sku] = values
            outcomes.append("created")
            continue
        changed = [f for f in _FIELDS if getattr(product, f) != values[f]]
        for f in changed:
            setattr(product, f, values[f])
        outcomes.append("updated" if changed else "unchanged")
    if new:
        await session.execute(insert(Product.__table__), list(new.values()))
        await ledger.ensure_levels(session, list(new))
    return outcomes
