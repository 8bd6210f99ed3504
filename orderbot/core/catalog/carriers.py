"""Carriers and their contract clauses (which delay causes each covers, what it pays), from the business
config (`[[carriers]]`) or a carriers file; the delay records and the claim evidence pack cite them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.catalog.values import ClauseIn
from orderbot.core.models import Carrier, CarrierClause


async def upsert_clauses(session: AsyncSession, items: Sequence[ClauseIn]) -> list[str]:
    """Create or update carriers and clauses (keyed by carrier code and clause no.); one outcome per item."""
    codes = {i.carrier_code for i in items}
    carriers = {c.code: c for c in (await session.execute(select(Carrier).where(Carrier.code.in_(codes)))).scalars()}
    clauses = {
        (c.carrier_code, c.clause_no): c
        for c in (await session.execute(select(CarrierClause).where(CarrierClause.carrier_code.in_(codes)))).scalars()
    }
    outcomes = []
    for item in items:
        changed = False
        carrier = carriers.get(item.carrier_code)
        if carrier is None:
            carrier = carriers[item.carrier_code] = Carrier(
                code=item.carrier_code, name=item.carrier_name or item.carrier_code
            )
            session.add(carrier)
            await session.flush()
            changed = True
        elif item.carrier_name and carrier.name != item.carrier_name:
            carrier.name, changed = item.carrier_name, True
        values = {
            "title": item.title,
            "text": item.text,
            "causes": list(item.causes),
            "compensation": item.compensation,
        }
        clause = clauses.get((item.carrier_code, item.clause_no))
        if clause is None:
            clause = clauses[(item.carrier_code, item.clause_no)] = CarrierClause(
                carrier_code=item.carrier_code, clause_no=item.clause_no, **values
            )
            session.add(clause)
            outcomes.append("created")
            continue
        for attr, value in values.items():
            if getattr(clause, attr) != value:
                setattr(clause, attr, value)
                changed = True
        outcomes.append("updated" if changed else "unchanged")
    await session.flush()
    return outcomes


def clauses_from_config(config: BusinessConfig) -> list[ClauseIn]:
    return [
        ClauseIn(c.code.upper(), c.name, k.no, k.title, k.text, tuple(k.causes), k.compensation)
        for c in config.carriers
        for k in c.clauses
    ]


async def sync_carriers(session: AsyncSession, config: BusinessConfig) -> int:
    """Upsert the carriers and clauses the business config lists (at start-up, like the staff directory);
    clauses imported from files and not in the config stay as they are."""
    items = clauses_from_config(config)
    if items:
        await upsert_clauses(session, items)
    for c in config.carriers:
        if not c.clauses:
            await upsert_carrier(session, c.code.upper(), c.name)
    return len(config.carriers)


async def upsert_carrier(session: AsyncSession, code: str, name: str) -> None:
    carrier = await session.get(Carrier, code)
    if carrier is None:
        session.add(Carrier(code=code, name=name))
    elif carrier.name != name:
        carrier.name = name
    await session.flush()


async def clauses_for(session: AsyncSession, carrier_code: str, cause: str) -> list[CarrierClause]:
    """The clauses of a carrier that cover a delay cause (for delay records and claim packs)."""
    rows = (
        await session.execute(
            select(CarrierClause).where(CarrierClause.carrier_code == carrier_code).order_by(CarrierClause.clause_no)
        )
    ).scalars()
    return [c for c in rows if cause in (c.causes or [])]
