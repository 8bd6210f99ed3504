"""The demo company at work while the demo clock moves: orders, payments, customs paperwork, warehouse scans,
tracking events and returns, hour by hour, through the same core use cases the webhooks and the scanner use.

The seed paints the past; `DemoCompany.work(start, end)` lets the business go on: new orders follow the seed's
hour-of-day and weekday rhythm at the company's own recent level (orders per day over the last week), placed
by its existing customers in proportion to how often each ordered lately, so a jump of any length leaves
figures that look like an ordinary day and every customer keeps their own rhythm. Nothing here writes a
finished row: an order enters by `ingest_order`, is paid or cancelled by `change_status`, has its customs
documents completed by `complete_task`, leaves the warehouse by `scan_package` with its printed label, travels
by `apply_tracking_update` (the same pushes a carrier sends) and comes back by `change_status`. What the company
looks at before it acts (its recent level, unpaid orders, open paperwork, packages to scan, parcels under way,
deliveries) is read in `sandbox/readmodel.py`: this module runs no SQL of its own (tests/unit/test_architecture.py).

Every draw comes from a `random.Random` seeded with the kind of work and the hour being worked (a parcel's route
and an order's time in the warehouse: with its order number), so the same jump gives the same business. The
company continues the seed's timeline (tools/seed.py, `_fulfil`): the warehouse keeps the seed's lag and stages, the
carriers the seed's transit fractions and delay reasons, so each stage's overdue share, the shipments per day and
the delay causes stay what the seed shows (tests/e2e/test_demo_figures.py). A call (one step of a jump) works hour
by hour in one unit of work per kind of work: the office, the warehouse, the carriers. The cost is the business
itself, item by item through the core use cases: a day of the default 20,000-order demo is ~400 orders, as many
stage moves, scans and hand-overs, and ~2,000 carrier pushes: with the jobs, 12–15 s of CPU on the development VM
(docs/demo.md, "Timings").
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, UTC
from zoneinfo import ZoneInfo

from orderbot.config import BusinessConfig
from orderbot.core.errors import DomainError
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import change_status, complete_task, get_order, ingest_order, move_stage
from orderbot.core.orders.states import STAGE_INDEX
from orderbot.core.stock.receiving import ReceiptLine, receive_lines
from orderbot.core.tracking import OVERSEAS_WH, TrackingUpdate, apply_tracking_update
from orderbot.core.warehouse.labels import label_text
from orderbot.core.warehouse.scanning import scan_package
from orderbot.db.engine import Database
from orderbot.sandbox import readmodel
from orderbot.tools.seed import (
    CANCEL_REASONS,
    CHANNELS,
    DELAY_DAYS,
    DESTS,
    HOUR_WEIGHTS,
    ORIGINS,
    PRODUCTS,
    RETURN_REASONS,
    WEEKDAY_FACTOR,
)

log = logging.getLogger("orderbot.demo")
SOURCE = "demo"
# The warehouse keeps the seed's pace (tools/seed.py, `_fulfil`): an order leaves `lag` hours after it was placed
# (normal 8–40 h, urgent 4–18 h, critical 2–8 h), passing 质检工单 at 0.3 lag and the packing table at 0.6 lag.
LAG_HOURS = {"normal": (8, 32), "urgent": (4, 14), "critical": (2, 6)}  # (least, spread)
HOUR = timedelta(hours=1)
RESTOCK_HOUR = 10  # local hour the suppliers' deliveries are received
PICK_DELAY = timedelta(hours=2)  # no order is packed sooner (the page's packing station always has some)
MAX_SCANS_PER_HOUR = 120
# Other tasks the team works: type → (least hours, spread, the role that does it, the note it leaves)
TASK_TURNAROUND = {
    "tracking_stale": (1, 5, "logistics", "已向承运商核实轨迹（演示）"),
    "follow_up": (2, 18, "customer_service", "已回电客户，告知新的预计交付（演示）"),
}
ROLES = ("logistics", "customer_service")
# A seeded order's lag follows from where the seed put it: the stage and the fraction of lag it entered it at
_STAGE_LAG = {"qc": 0.3, "packing": 0.6}
STAGE_DETAIL = {"qc": "进入质检", "packing": "质检通过，进入打包台"}
# A shipment's journey continues the seed's timeline (tools/seed.py, `_fulfil`): the transit time T runs from the
# scan to the signature, half to nine tenths of the time left to the promised day; the parcel reaches customs at
# 0.15 T, the overseas warehouse at 0.5 T, local delivery at 0.75 T. So each stage's overdue share stays what the
# seed shows (物流路由 past 24 h when T > 160 h, 海关申报 past 48 h when T > 137 h).
#   (17TRACK status, sub status, fraction of T, stage the push implies)
JOURNEY = (
    ("InTransit", "InTransit_CustomsProcessing", 0.15, "customs"),
    ("InTransit", "InTransit_CustomsReleased", 0.49, "customs"),
    ("InTransit", OVERSEAS_WH, 0.5, "overseas_wh"),
    ("OutForDelivery", "OutForDelivery_Other", 0.75, "last_mile"),
    ("Delivered", "Delivered_Other", 1.0, "delivered"),
)
JOURNEY_SUBS = frozenset(j[1] for j in JOURNEY)
DELAY_SHARE = 0.05  # parcels the carrier reports late, as the seed's delays after the warehouse (6 % with 缺货)
LATE_SHARE = 0.015  # late, and nobody recorded why (the seed's share)
# The seed's delay reasons after the warehouse, as a carrier words them, on every lane: (reason, weight, sub status,
# message, when: a fraction of T plus hours, where the seed records them). The core's cause mapping (config
# `delay_causes`) turns the message into the cause category, as for a real company's carrier.
TROUBLE = (
    ("港口罢工", 10, "Exception_Delayed", "港口拥堵，船期顺延", 0.1, 0),
    ("清关查验", 30, "Exception_Delayed", "目的国海关查验，清关顺延", 0.15, 6),
    ("天气", 20, "Exception_Delayed", "恶劣天气，干线停运", 0.1, 0),
    ("爆仓", 15, "Exception_Delayed", "承运商爆仓，运力不足，顺延一班", 0.05, 0),
    ("地址错误", 10, "Exception_Delayed", "收件地址不详，待核实", 0.75, 4),
)
CUSTOMS_HOLD_SHARE = 0.005  # parcels the destination customs asks about (补充资料), released after 1–3 days
RETURN_SHARE = 0.03  # the seed's: asked for one to ten days after delivery
CITY = {d[0]: d[2] for d in DESTS}
# Where a seeded parcel without a tracking status stands: the journey step its stage implies, and the fraction of
# T at which the seed put it there (so its T, and the rest of its journey, follow from its stage_since)
_STAGE_STEP = {
    "customs": ("InTransit_CustomsProcessing", 0.15),
    "overseas_wh": (OVERSEAS_WH, 0.5),
    "last_mile": ("OutForDelivery_Other", 0.75),
}
CATCH_UP = timedelta(hours=24)  # a step long overdue (a seeded parcel) is spread over the next day, not one hour


@dataclass
class WorkDone:
    """What one `work` call did, by kind (for the log and the page)."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, n: int = 1) -> None:
        if n:
            self.counts[kind] = self.counts.get(kind, 0) + n

    def describe(self) -> str:
        names = {
            "orders": "新订单",
            "paid": "付款",
            "cancelled": "取消",
            "docs": "报关资料补齐",
            "scans": "扫码出库",
            "tracking": "物流轨迹",
            "returns": "退货申请",
            "returned": "退货入库",
            "tasks": "待办处理",
            "restocked": "到货入库",
        }
        return "，".join(f"{names.get(k, k)} {v}" for k, v in self.counts.items()) or "没有新业务"


class DemoCompany:
    """The example company's business in motion (see the module docstring)."""

    def __init__(self, db: Database, config: BusinessConfig, *, label_secret: str, seed: int = 7):
        self.db, self.config, self.secret, self.seed = db, config, label_secret, seed
        self.tz = ZoneInfo(config.timezone)
        self.scanners = [s.id for s in config.staff if "warehouse" in s.roles] or ["warehouse"]
        self.customs = [s.id for s in config.staff if "customs" in s.roles] or [None]
        self.staff = {role: next((s.id for s in config.staff if role in s.roles), None) for role in ROLES}
        self.spare: set[str] = set()  # customers whose parcels the packers leave for the page's visitor to scan
        self._levels: dict[date, tuple] = {}  # the level and the customers of a local day, taken once a day
        self._routes: dict[tuple[str, datetime], list[tuple]] = {}  # a parcel's route, decided once
        self._started: datetime | None = None  # the first hour this process worked: older orders were seeded
        self._lags: dict[str, timedelta] = {}  # how long an order stays in the warehouse, decided once
        self._late: dict[tuple[str, str], datetime] = {}  # when a long-overdue step is caught up, decided once

    async def work(self, start: datetime, end: datetime) -> WorkDone:
        """Everything the company does from `start` to `end` (a jump's step), hour by hour, in one unit of work
        per kind of work: the office (orders, payments, customs paperwork), the warehouse (scans), the carriers
        (parcels and returns move in days, so they are worked once over the whole interval)."""
        done = WorkDone()
        if end <= start:
            return done
        self._started = self._started or start
        day = start.astimezone(self.tz).date()
        if day not in self._levels:
            self._levels = {day: await self._level(start)}
        rate, customers = self._levels[day]
        hours = []
        t = start
        while t < end:
            hours.append((t, min(end, t + timedelta(hours=1))))
            t = hours[-1][1]
        async with self.db.write() as session:
            for t0, t1 in hours:
                await self._new_orders(session, self._rng("orders", t0), t0, t1, rate, customers, done)
                await self._payments(session, self._rng("payments", t0), t1, done)
                await self._paperwork(session, self._rng("paperwork", t0), t1, done)
                await self._follow_ups(session, t1, done)
        async with self.db.write() as session:
            for t0, t1 in hours:
                if t0.astimezone(self.tz).hour == RESTOCK_HOUR:
                    await self._restock(session, t0, done)
                await self._warehouse(session, self._rng("scans", t0), t1, done)
        async with self.db.write() as session:
            await self._journeys(session, start, end, done)
            await self._returns(session, start, end, done)
        log.info("demo company %s → %s: %s", start.isoformat(), end.isoformat(), done.describe())
        return done

    def _rng(self, kind: str, hour: datetime) -> random.Random:
        """The draws of one kind of work in one hour: the same jump gives the same business."""
        return random.Random(f"{self.seed}:{kind}:{int(hour.timestamp())}")

    # --- the level the business runs at ----------------------------------------------------------------------
    async def _level(self, now: datetime) -> tuple[float, tuple[list[tuple[str, str, str]], list[float]]]:
        """(orders per ordinary day over the last 7 full days, customers with cumulative weights by recent orders)."""
        today = datetime.combine(now.astimezone(self.tz).date(), time(0), self.tz)
        week = today - timedelta(days=7)
        async with self.db.read() as session:
            n = await readmodel.orders_created(session, week, today)
            rows = await readmodel.customers_by_orders(session, now - timedelta(days=60), now)
        rate = n / sum(WEEKDAY_FACTOR)  # orders per day at weekday factor 1
        people, cum, total = [], [], 0.0
        for cid, name, province, count in rows:
            total += count
            people.append((cid, name, province or "广东"))
            cum.append(total)
        return rate, (people, cum)

    # --- the office ----------------------------------------------------------------------------------------
    async def _new_orders(self, session, rng, t0, t1, rate, customers, done) -> None:
        people, cum = customers
        if not people or rate <= 0:
            return
        local = t0.astimezone(self.tz)
        share = HOUR_WEIGHTS[local.hour] / sum(HOUR_WEIGHTS) * WEEKDAY_FACTOR[local.weekday()]
        expected = rate * share * (t1 - t0).total_seconds() / 3600
        n = _poisson(rng, expected)
        if not n:
            return
        day = local.strftime("%Y%m%d")
        last = await readmodel.last_order_no(session, f"SO{day}")
        seq = int(last[10:]) if last and last[10:].isdigit() else 0
        times = sorted(t0 + (t1 - t0) * rng.random() for _ in range(n))
        for at in times:
            seq += 1
            cid, name, province = people[_pick(rng, cum)]
            status = "pending" if rng.random() < 0.1 else "paid"
            data = self._order(rng, f"SO{day}{seq:06d}", cid, name, province, at, status)
            try:
                await ingest_order(session, parse_order(data), source=SOURCE, config=self.config, now=at)
            except DomainError as exc:  # an order the rules refuse is the company's problem, not the demo's
                log.warning("demo order %s refused: %s", data["order_no"], exc)
                continue
            done.add("orders")

    def _order(self, rng, order_no, cid, name, province, at, status) -> dict:
        skus = rng.choices(PRODUCTS, weights=[p[8] for p in PRODUCTS], k=1 if rng.random() < 0.75 else 2)
        lines = [{"sku": p[0], "qty": rng.choice((1, 1, 1, 2, 2, 3))} for p in {p[0]: p for p in skus}.values()]
        price = {p[0]: p[7] for p in PRODUCTS}
        cents = sum(price[x["sku"]] * x["qty"] for x in lines)
        channel = rng.choices(CHANNELS, weights=[c[2] for c in CHANNELS])[0][0]
        dest = rng.choices(DESTS, weights=[d[1] for d in DESTS])[0][0]
        origin = rng.choices(ORIGINS, weights=[o[1] for o in ORIGINS])[0][0]
        urgency = "urgent" if rng.random() < 0.05 else "normal"
        return {
            "order_no": order_no,
            "channel": channel,
            "channel_order_id": f"D-{order_no}",
            "customer": {"id": cid, "name": name, "province": province},
            "amount": f"{cents / 100:.2f}",
            "currency": "CNY",
            "origin": origin,
            "dest_country": dest,
            "urgency": urgency,
            "created_at": at.isoformat(),
            "lines": lines,
            "status": status,
        }

    async def _payments(self, session, rng, now, done) -> None:
        """Pending orders are mostly paid within a few hours; a few are called off, and the shop closes an order
        still unpaid after a day (as the platforms do)."""
        for order in await readmodel.unpaid_orders(session, created_by=now - timedelta(minutes=30), limit=200):
            expired = now - _aware(order.created_at) > timedelta(hours=24)
            draw = rng.random()
            if expired or draw < 0.01:
                reason = (
                    "超时未付款"
                    if expired
                    else rng.choices([r for r, _ in CANCEL_REASONS], weights=[w for _, w in CANCEL_REASONS])[0]
                )
                await change_status(session, order, "cancelled", now=now, source=SOURCE, reason=reason)
                done.add("cancelled")
            elif draw < 0.4:
                await change_status(session, order, "paid", now=now, source=SOURCE)
                done.add("paid")

    async def _paperwork(self, session, rng, now, done) -> None:
        """The customs team completes 报关资料 within one to three hours; one order in twenty waits on the supplier
        (MSDS, invoice) for a working day, and that is the 报关资料待补 reminder the tour shows."""
        rows = await readmodel.open_docs_tasks(session, opened_by=now - timedelta(hours=1), limit=300)
        for key, opened, order_id in rows:
            age = now - _aware(opened)
            slow = (order_id or 0) % 20 == 0
            if age >= timedelta(hours=10 if slow else 1) and (slow or age >= timedelta(hours=3) or rng.random() < 0.5):
                await complete_task(session, key, now=now, actor=rng.choice(self.customs), note="资料已补齐（演示）")
                done.add("docs")

    async def _follow_ups(self, session, now, done) -> None:
        """The team works its other tasks as people do: the logistics desk checks a parcel whose tracking went
        quiet with the carrier within one to six hours; customer service calls back a customer chasing a delayed
        order within two to twenty hours. Each task's turnaround is drawn once from its key."""
        rows = await readmodel.open_tasks(session, TASK_TURNAROUND, opened_by=now - timedelta(hours=1))
        for key, kind, opened in rows:
            least, spread, role, note = TASK_TURNAROUND[kind]
            hours = least + spread * random.Random(f"{self.seed}:task:{key}").random()
            if now - _aware(opened) >= timedelta(hours=hours):
                who = self.staff.get(role)
                await complete_task(session, key, now=now, actor=who, note=note)
                done.add("tasks")

    # --- the warehouse and the carriers ----------------------------------------------------------------------
    async def _restock(self, session, now, done) -> None:
        """Once a day the suppliers' deliveries are received (`receive_lines`, as `orderbot stock receive` does):
        a SKU with orders waiting for it at 采购计划, or with less than a week of its recent demand left, gets three
        weeks' worth, and the waiting orders move on. Without it the shelves empty and shipments fall day by day."""
        day = now.astimezone(self.tz).strftime("%Y%m%d")
        lines = []
        for sku, free, ordered, waiting in await readmodel.stock_position(session, since=now - timedelta(days=14)):
            daily = ordered / 14
            if waiting > 0 or (daily > 0 and free < 7 * daily):
                qty = math.ceil(max(21 * daily + waiting - max(free, 0), waiting, 1) / 50) * 50
                lines.append(ReceiptLine(sku, qty, batch=f"B{day}", po_no=f"PO{day}-{sku}"))
        if lines:
            await receive_lines(session, lines, now=now, actor=self.scanners[0], source=SOURCE)
            done.add("restocked", len(lines))

    async def _warehouse(self, session, rng, now, done) -> None:
        """The warehouse works on paid orders at the seed's pace: each order has its lag (drawn once from its
        number; a seeded order's from the stage the seed put it in), moves to 质检工单 at 0.3 lag and to the
        packing table at 0.6 lag (`move_stage`), and is scanned with its printed labels at its lag."""
        rows = await readmodel.packages_to_scan(
            session, paid_by=now - PICK_DELAY, skip_customers=self.spare, limit=20 * MAX_SCANS_PER_HOUR
        )
        who = rng.choice(self.scanners)
        ready, moves = [], {}
        for order_no, sku, batch, package_no, created, urgency, stage, since in rows:
            created = _aware(created)
            lag = self._lag(order_no, urgency, created, stage, _aware(since) if since else None, now)
            want = "qc" if now >= created + lag * 0.3 else None
            want = "packing" if now >= created + lag * 0.6 else want
            if want and STAGE_INDEX[want] > STAGE_INDEX[stage]:
                moves[order_no] = want
            if now >= created + lag and len(ready) < MAX_SCANS_PER_HOUR:
                ready.append((order_no, sku, batch, package_no))
        for order in await readmodel.orders_by_no(session, list(moves)):  # one read for the hour's moves
            want = moves[order.order_no]
            await move_stage(session, order, want, now=now, source=SOURCE, actor=who, detail=STAGE_DETAIL[want])
        for order_no, sku, batch, package_no in ready:
            raw = "QR_CODE," + label_text(self.secret, order_no, sku, batch, package_no)
            result = await scan_package(
                session,
                raw=raw,
                staff_id=who,
                platform_user=None,
                station="demo-pack-2",
                now=now,
                config=self.config,
                secret=self.secret,
            )
            if result.outcome == "ok":
                done.add("scans")

    def _lag(self, order_no, urgency, created, stage, since, now) -> timedelta:
        """How long an order stays in the warehouse, decided once."""
        lag = self._lags.get(order_no)
        if lag is None:
            if len(self._lags) > 100_000:
                self._lags.clear()
            least, spread = LAG_HOURS.get(urgency, LAG_HOURS["normal"])
            lag = timedelta(hours=least + spread * random.Random(f"{self.seed}:lag:{order_no}").random())
            if stage in _STAGE_LAG and since is not None and since > created:
                waited = since - created
                # where the seed put it says its lag; an order that waited for stock carries on from its release
                frac = _STAGE_LAG[stage]
                lag = waited / frac if waited <= (least + spread) * frac * HOUR else waited + lag * (1 - frac)
            elif stage == "inventory" and created < self._started:  # the seed put it there before 0.3 lag
                lag = max(lag, (now - created) / 0.3)
            self._lags[order_no] = lag
        return lag

    async def _journeys(self, session, t0, t1, done) -> None:
        """The next carrier push of every handed-over parcel whose next step falls due by the end of this hour.

        A parcel's route (its transit time, a delay, a customs query) is decided once from its order number; where
        it stands is read from the order (its last tracking status, else its stage: a seeded parcel carries on
        from where the seed put it, at the pace the seed gave it)."""
        for row in await readmodel.parcels_under_way(session):
            order_no, tracking, origin, dest, shipped, status_now, last_at, stage, since, due = row
            shipped = _aware(shipped)
            steps = self._route(order_no, shipped, dest, due, stage, _aware(since) if since else None, t0)
            subs = [s[1] for s in steps]
            if status_now in subs:
                idx = len(subs) - 1 - subs[::-1].index(status_now)
            elif stage in _STAGE_STEP:
                idx = subs.index(_STAGE_STEP[stage][0])
            else:
                idx = -1
            if idx + 1 >= len(steps):
                continue
            status, sub, due_at, message = steps[idx + 1]
            if due_at < t0 - CATCH_UP:  # long overdue (a seeded parcel): spread over the next day, drawn once
                key = (order_no, sub)
                if key not in self._late:
                    if len(self._late) > 100_000:
                        self._late.clear()
                    self._late[key] = t0 + CATCH_UP * random.Random(f"{self.seed}:late:{order_no}:{sub}").random()
                due_at = self._late[key]
            at = max(due_at, t0, _aware(last_at) + timedelta(minutes=1) if last_at else t0)
            if at >= t1:
                continue
            upd = TrackingUpdate(
                provider="generic",
                dedupe_key=f"demo:{tracking}:{sub}",
                tracking_no=tracking,
                status=status,
                sub_status=sub,
                at=at,
                location=CITY.get(dest, dest),
                message=message,
            )
            result = await apply_tracking_update(
                session, upd, now=at, payload={"demo": True, "sub_status": sub}, causes=self.config.delay_causes
            )
            if result.outcome == "updated":
                done.add("tracking")

    def _route(self, order_no, shipped, dest, due, stage, since, now) -> list[tuple]:
        """(status, sub status, when, message) from the waybill to the signature, for one parcel, decided once."""
        key = (order_no, shipped)
        if key not in self._routes:
            if len(self._routes) > 100_000:
                self._routes.clear()
            self._routes[key] = self._draw_route(order_no, shipped, dest, due, stage, since, now)
        return self._routes[key]

    def _draw_route(self, order_no, shipped, dest, due, stage, since, now) -> list[tuple]:
        """The seed's journey (`_fulfil` in tools/seed.py) for one parcel: its transit time T from the promised
        day, a delay on one parcel in twenty (the seed's reasons and days), the rare customs query."""
        rng = random.Random(f"{self.seed}:{order_no}")
        due = due or (shipped + timedelta(days=7)).astimezone(self.tz).date()
        deadline = self._midnight(due + timedelta(days=1))
        trouble = None
        if rng.random() < DELAY_SHARE:
            trouble = rng.choices(TROUBLE, weights=[t[1] for t in TROUBLE])[0]
            lo, hi = DELAY_DAYS[trouble[0]]
            arrive = self._midnight(due + timedelta(days=rng.randint(lo, hi))) + timedelta(hours=9 + 11 * rng.random())
        elif rng.random() < LATE_SHARE:
            arrive = deadline + timedelta(hours=2 + 46 * rng.random())
        else:
            arrive = shipped + max(timedelta(hours=36), (deadline - shipped) * (0.5 + 0.42 * rng.random()))
        transit = max(arrive - shipped, timedelta(hours=36))
        if stage in _STAGE_STEP and since is not None and since > shipped:
            transit = (since - shipped) / _STAGE_STEP[stage][1]  # where the seed put it says how fast it travels
        elif stage == "routing" and now - shipped > timedelta(hours=24):
            for _ in range(20):  # a seeded parcel not at customs yet: its transit is long enough for that
                if shipped + transit * 0.15 > now:
                    break
                transit *= 1.25
        steps = [(status, sub, shipped + transit * frac, None) for status, sub, frac, _ in JOURNEY]
        # clearance itself takes half a day to a day and a half; the parcel then waits in 海关申报 for its
        # transfer to the overseas warehouse (the seed's stage), with the clearance timer (卡关) stopped
        released = min(shipped + transit * 0.15 + timedelta(hours=12 + 24 * rng.random()), steps[1][2])
        steps[1] = (steps[1][0], steps[1][1], released, None)
        if trouble is not None:
            _, _, sub, message, frac, hours = trouble
            steps.append(("Exception", sub, shipped + transit * frac + timedelta(hours=hours), message))
        if rng.random() < CUSTOMS_HOLD_SHARE:
            held = shipped + transit * 0.3
            steps.append(("InTransit", "InTransit_CustomsRequiringInformation", held, "海关要求补充资料"))
            slip = timedelta(hours=rng.choice((24, 48, 72)))
            steps = [s if s[2] <= held else (s[0], s[1], s[2] + slip, s[3]) for s in steps]
        if self._started is not None and shipped < self._started:  # seeded: the seed wrote its past troubles
            steps = [s for s in steps if s[1] in JOURNEY_SUBS or s[2] >= now]
        return sorted(steps, key=lambda s: s[2])

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.tz).astimezone(UTC)

    async def _returns(self, session, t0, t1, done) -> None:
        """A few delivered orders come back: asked for within ten days, received at the warehouse 2–4 days later."""
        for order_no, delivered in await readmodel.delivered_between(session, t0 - timedelta(days=10), t1):
            fate = random.Random(f"{self.seed}:return:{order_no}")
            if fate.random() < RETURN_SHARE:
                at = _aware(delivered) + timedelta(hours=fate.randint(24, 240))
                if t0 <= at < t1:
                    order = await get_order(session, order_no)
                    await change_status(
                        session, order, "return_requested", now=at, source=SOURCE, reason=fate.choice(RETURN_REASONS)
                    )
                    done.add("returns")
        for order_no, asked in await readmodel.returns_asked_before(session, t1 - timedelta(hours=48), limit=100):
            fate = random.Random(f"{self.seed}:received:{order_no}")
            at = _aware(asked) + timedelta(hours=fate.randint(48, 96))
            if at < t1:
                order = await get_order(session, order_no)
                await change_status(session, order, "returned", now=max(at, t0), source=SOURCE, reason="退货入库")
                done.add("returned")


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes."""

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _pick(rng: random.Random, cum: list[float]) -> int:
    from bisect import bisect_right

    return min(len(cum) - 1, bisect_right(cum, rng.random() * cum[-1]))


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method for small means, a rounded normal for large ones (an hour holds at most a few dozen)."""
    import math

    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
