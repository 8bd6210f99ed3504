"""The names the master data knows things by: customers, products (SKU and name), staff (id and name). The chat's
parser reads them once at start-up so a customer's name or a product's reads as one word."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Customer, Product, Staff


@dataclass(frozen=True)
class MasterNames:
    customers: list[str]  # by name
    products: list[tuple[str, str]]  # (sku, name) by SKU
    staff: list[tuple[str, str]]  # (staff id, name) by id


async def master_names(session: AsyncSession) -> MasterNames:
    customers = (await session.execute(select(Customer.name).order_by(Customer.name))).scalars().all()
    products = (await session.execute(select(Product.sku, Product.name).order_by(Product.sku))).all()
    staff = (await session.execute(select(Staff.id, Staff.name).order_by(Staff.id))).all()
    return MasterNames(list(customers), list(products), list(staff))
