"""Master data the parser must know by name: customers, products and SKUs, staff.

The built-in words (regions, provinces, channels, metrics, rule names) live in `lexicon`; a `Vocabulary` adds
what only the database knows. Customer names matter even though no slot takes them: a customer called
"华东精工" is one token, so its name does not read as the region 华东.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.catalog.names import master_names


@dataclass(frozen=True)
class Vocabulary:
    """Names from the master data. `Vocabulary.static()` is the built-in vocabulary alone (no database)."""

    customers: tuple[str, ...] = ()
    products: tuple[tuple[str, str], ...] = ()  # (sku, product name)
    staff: tuple[tuple[str, str], ...] = ()  # (staff id, display name)

    @classmethod
    def static(cls) -> Vocabulary:
        return cls()

    @property
    def skus(self) -> tuple[str, ...]:
        return tuple(sku for sku, _ in self.products)


async def load_vocabulary(session: AsyncSession) -> Vocabulary:
    """Read customer names, products (SKU and name) and staff (id and name); run once at start-up."""
    names = await master_names(session)
    return Vocabulary(
        customers=tuple(dict.fromkeys(c for c in names.customers if c)),
        products=tuple((sku, name or "") for sku, name in names.products),
        staff=tuple((sid, name) for sid, name in names.staff if name),
    )
