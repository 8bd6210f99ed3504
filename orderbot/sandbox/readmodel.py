"""The sandbox page's read models: what the page shows beside the chat, read here so its routes run no SQL
(tests/unit/test_architecture.py). Only the demo reads these; nothing here writes.

- `demo_picks`: the demo customer (one whose parcel waits at the packing station, so a scan ends in their
  WeChat) and a shipped order to look up;
- `packing_station`: packages a packer could scan now, the parcel counts of their orders, the SKUs, the last
  scans at the station;
- `cockpit_state`: alerts firing or acknowledged, paused courier batches, frozen channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Alert, Breaker, Channel, Customer, Order, Package, Product

READY_STAGES = ("qc", "packing")  # past quality control, at the packing station
WAITING_AT_MOST = 200


def _waiting_query() -> Select[Any]:
    """Unscanned packages of paid orders that are past QC and not held (what a packer could scan now)."""
    return (
        select(
            Order.order_no,
            Order.customer_id,
            Customer.name.label("customer"),
            Package.package_no,
            Package.sku,
            Package.batch_no,
            Product.name.label("product"),
            Product.hazmat_class,
            Product.fragile,
            Order.stage,
        )
        .join(Package, Package.order_id == Order.id)
        .join(Customer, Customer.id == Order.customer_id)
        .join(Product, Product.sku == Package.sku)
        .where(
            Package.scanned_at.is_(None),
            Order.status == "paid",
            Order.stage.in_(READY_STAGES),
            Order.review_hold.is_(False),
            Order.customs_hold.is_(False),
        )
        .order_by(case((Order.stage == "packing", 0), else_=1), Order.stage_since, Order.id, Package.package_no)
    )


async def demo_picks(session: AsyncSession) -> tuple[Customer | None, str | None]:
    """The demo customer: one with a WeChat openid whose order waits at the packing station, fewest parcels
    left first (one left means a single scan ships it), else any with an openid; and the newest shipped order."""
    rows = (
        await session.execute(_waiting_query().where(Customer.wechat_openid.is_not(None)).limit(WAITING_AT_MOST))
    ).all()
    left: dict[str, int] = {}
    for r in rows:  # unscanned packages per order
        left[r.order_no] = left.get(r.order_no, 0) + 1
    best = min(rows, key=lambda r: left[r.order_no], default=None)  # min keeps the earliest of equals
    cid = (
        best.customer_id
        if best
        else (
            await session.execute(
                select(Customer.id).where(Customer.wechat_openid.is_not(None)).order_by(Customer.id).limit(1)
            )
        ).scalar()
    )
    customer = await session.get(Customer, cid) if cid else None
    sample_order = (
        await session.execute(
            select(Order.order_no).where(Order.status == "shipped").order_by(Order.id.desc()).limit(1)
        )
    ).scalar()
    return customer, sample_order


@dataclass(frozen=True)
class PackingStation:
    waiting: Sequence[Row[Any]]  # `_waiting_query` rows
    packages_per_order: dict[str, int]  # every parcel of the waiting orders, scanned or not
    skus: list[str]
    recent: Sequence[Row[Any]]  # the station's last scans: order_no, package_no, sku, batch_no, scanned_at/by


async def packing_station(session: AsyncSession, station: str, *, recent: int = 5) -> PackingStation:
    rows = (await session.execute(_waiting_query().limit(WAITING_AT_MOST))).all()
    totals = await session.execute(
        select(Order.order_no, func.count())
        .join(Package)
        .where(Order.order_no.in_({r.order_no for r in rows}))
        .group_by(Order.order_no)
    )
    skus = list((await session.execute(select(Product.sku).order_by(Product.sku))).scalars())
    last = (
        await session.execute(
            select(
                Order.order_no,
                Package.package_no,
                Package.sku,
                Package.batch_no,
                Package.scanned_at,
                Package.scanned_by,
            )
            .join(Package, Package.order_id == Order.id)
            .where(Package.station == station)
            .order_by(Package.scanned_at.desc())
            .limit(recent)
        )
    ).all()
    return PackingStation(rows, {no: int(n) for no, n in totals.all()}, skus, last)


@dataclass(frozen=True)
class CockpitState:
    alerts: list[Alert]  # the newest firing or acknowledged
    counts: dict[str, int]  # firing / acknowledged
    paused: list[tuple[str, str | None]]  # (breaker name "courier:<warehouse>", reason)
    frozen: list[str]  # channel codes


async def cockpit_state(session: AsyncSession, *, alerts: int = 8) -> CockpitState:
    shown = (
        await session.execute(
            select(Alert)
            .where(Alert.state.in_(("firing", "acknowledged")))
            .order_by(Alert.fired_at.desc(), Alert.id.desc())
            .limit(alerts)
        )
    ).scalars()
    counts = await session.execute(
        select(Alert.state, func.count()).where(Alert.state.in_(("firing", "acknowledged"))).group_by(Alert.state)
    )
    paused = await session.execute(
        select(Breaker.name, Breaker.reason).where(Breaker.state == "open", Breaker.name.like("courier:%"))
    )
    frozen = (await session.execute(select(Channel.code).where(Channel.frozen.is_(True)))).scalars()
    return CockpitState(
        list(shown),
        {state: int(n) for state, n in counts.all()},
        [(name, reason) for name, reason in paused.all()],
        list(frozen),
    )
