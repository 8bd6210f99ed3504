"""The standard jobs, built from the business config's `[scheduler]` table (times local to `timezone`).

| job            | when                         | what                                                               |
|----------------|------------------------------|--------------------------------------------------------------------|
| rules          | every rules_every_minutes    | the rules engine's evaluation (injected; absent → no job)          |
| courier        | at each courier_batch_at     | the courier batch (injected; absent → no job)                      |
| daily_report   | at daily_report_at           | yesterday's daily report to the groups receiving "daily_report"    |
| my_customers   | at my_customers_at           | per salesperson, a digest of their customers' orders               |
| tracking_stale | hourly                       | a task per shipped order whose tracking went quiet                 |
| task_reminders | every 15 min                 | each overdue task's owner is reminded once                         |
| performance    | at performance_sheet_at      | on the 1st: last month's packer performance sheet to the leads     |
| outbox         | every 30 s                   | wakes the outbox worker, so due retries go out without new writes  |
| media_purge    | hourly                       | deletes expired chart images                                       |

Every job takes `now` and does its work in its own unit of work; all are idempotent (dedupe keys, task keys),
so a second leader or a manual re-run never sends or opens anything twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, exists, func, literal, select

from orderbot.messaging.addresses import Addresses
from orderbot.bot.handlers import reports
from orderbot.bot.handlers.base import Context, cn_date
from orderbot.messaging.notify import group_address, notify_groups
from orderbot.messaging.reply import Reply
from orderbot.config import BusinessConfig
from orderbot.core import media, outbox
from orderbot.core.models import Customer, Order, OutboxMessage, Staff, Task
from orderbot.core.orders.service import open_task
from orderbot.core.orders.states import STAGE_NAMES, STAGE_NORMAL_HOURS
from orderbot.core.reports.common import day_bounds
from orderbot.db.engine import Database
from orderbot.jobs.scheduler import JobSpec, daily, every

Tick = Callable[[datetime], Awaitable[Any]]
OPEN = ("pending", "paid", "shipped")  # not yet delivered, cancelled or returned
DIGEST_ROLES = frozenset({"sales"})
LIST_AT_MOST = 5


def standard_jobs(
    config: BusinessConfig,
    *,
    db: Database,
    charts: Callable[..., Awaitable[bytes]] | None = None,
    addresses: Addresses | None = None,
    worker=None,
    rules: Tick | None = None,
    courier: Tick | None = None,
) -> list[JobSpec]:
    """The jobs of `config.scheduler`. `charts` renders the daily report's chart (the app's `render_async`
    partial; None sends the report without it); `addresses` reaches a salesperson (the dispatcher's);
    `worker` is the outbox worker to wake; `rules(now)` and `courier(now)` come from their engines."""
    jobs = StandardJobs(config, db, charts=charts, addresses=addresses or Addresses(set()))
    sc = config.scheduler
    specs = []
    if rules is not None:
        specs.append(JobSpec("rules", every(minutes=sc.rules_every_minutes), rules))
    if courier is not None and sc.courier_batch_at:
        specs.append(JobSpec("courier", daily(*sc.courier_batch_at), courier))
    specs += [
        JobSpec("daily_report", daily(sc.daily_report_at), jobs.daily_report),
        JobSpec("my_customers", daily(sc.my_customers_at), jobs.my_customers),
        JobSpec("tracking_stale", every(minutes=60), jobs.tracking_stale),
        JobSpec("task_reminders", every(minutes=15), jobs.task_reminders),
        JobSpec("performance_sheet", daily(sc.performance_sheet_at), jobs.performance_sheet),
    ]
    if worker is not None:

        async def wake_outbox(now: datetime) -> None:
            worker.wake.set()

        specs.append(JobSpec("outbox", every(seconds=30), wake_outbox))
    specs.append(JobSpec("media_purge", every(minutes=60), jobs.media_purge))
    return specs


def _system_asker():
    from orderbot.bot.handlers.base import Asker

    return Asker("orderbot", "OrderBot", frozenset({"admin"}), None)


@dataclass
class Digest:
    staff_id: str
    name: str
    open: int = 0
    late: list[tuple[str, str, int]] = field(default_factory=list)  # (order_no, customer, days late)
    stuck: list[tuple[str, str, str, float, int]] = field(default_factory=list)  # (no, customer, stage, h, normal)
    delivered: list[tuple[str, bool]] = field(default_factory=list)  # (order_no, later than promised)

    @property
    def worth_sending(self) -> bool:
        return bool(self.late or self.stuck or self.delivered)

    def reply(self, today: date) -> Reply:
        lines = [f"{self.name}，早上好！你名下客户的订单（{cn_date(today)}）：", f"· 进行中 {self.open} 单"]
        if self.late:
            items = sorted(self.late, key=lambda r: (-r[2], r[0]))
            shown = "、".join(f"{no}（{cust}，逾期{days}天）" for no, cust, days in items[:LIST_AT_MOST])
            lines.append(f"· 已过承诺交付日未签收 {len(items)} 单：{shown}{' 等' if len(items) > LIST_AT_MOST else ''}")
        if self.stuck:
            items = sorted(self.stuck, key=lambda r: (-(r[3] - r[4]), r[0]))
            shown = "、".join(
                f"{no}（{cust}，{stage}已{hours:.0f}小时，正常{normal}小时内）"
                for no, cust, stage, hours, normal in items[:LIST_AT_MOST]
            )
            lines.append(f"· 卡在环节 {len(items)} 单：{shown}{' 等' if len(items) > LIST_AT_MOST else ''}")
        if self.delivered:
            late = sum(1 for _, was_late in self.delivered if was_late)
            nos = "、".join(no for no, _ in sorted(self.delivered)[:LIST_AT_MOST])
            extra = f"（其中 {late} 单晚于承诺日）" if late else ""
            lines.append(
                f"· 昨日签收 {len(self.delivered)} 单{extra}：{nos}"
                f"{' 等' if len(self.delivered) > LIST_AT_MOST else ''}"
            )
        return Reply(title=f"我的客户 · {cn_date(today)}", text="\n".join(lines))


class StandardJobs:
    def __init__(self, config: BusinessConfig, db: Database, *, charts=None, addresses: Addresses | None = None):
        self.config, self.db, self.charts = config, db, charts
        self.addresses = addresses or Addresses(set())
        self.zone = ZoneInfo(config.timezone)

    def _today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    async def task_reminders(self, now: datetime) -> str:
        """Remind each overdue task's owner once, in the transaction that marks it reminded."""
        from orderbot.bot.handlers.tasks import reminder_reply
        from orderbot.core.tasks import remind_overdue

        async with self.db.write() as s:
            due = await remind_overdue(s, self.config.tasks, now=now)
            by_owner: dict[str, list] = {}
            for r in due:
                by_owner.setdefault(r.staff_id, []).append(r)
            for staff_id, mine in by_owner.items():
                channel, destination = await self.addresses.staff(s, staff_id)
                await outbox.enqueue(
                    s,
                    channel=channel,
                    destination=destination,
                    kind="reply",
                    now=now,
                    payload=reminder_reply(mine).to_dict(),
                    dedupe_key=f"task_overdue:{min(r.task_id for r in mine)}:{staff_id}",
                )
        return f"{len(due)} overdue task(s) reminded"

    async def performance_sheet(self, now: datetime) -> str:
        """On the 1st (local), last month's 直连绩效考核表 (.xlsx) to every warehouse lead, once per lead."""
        from orderbot.bot.performance_sheet import MIME, performance_xlsx
        from orderbot.messaging.reply import Attachment
        from orderbot.core.warehouse.performance import month_of, monthly_figures

        today = self._today(now)
        if today.day != 1:
            return "not the first of the month"
        first, last = month_of(today - timedelta(days=1))
        leads = [s.id for s in self.config.staff if "warehouse_lead" in s.roles]
        if not leads:
            return "no warehouse lead in the staff directory"
        async with self.db.read() as s:
            packers = await monthly_figures(s, first, last, self.zone)
        name = f"直连绩效考核表_{first:%Y-%m}.xlsx"
        reply = Reply(
            title=f"{first:%Y年%m月}打包员绩效考核表",
            text=f"{first:%Y年%m月}扫码绩效：{len(packers)} 位打包员，"
            f"达标 {sum(1 for p in packers if p.meets)} 位。明细见附件 {name}。",
            files=(Attachment(name, performance_xlsx(first, packers), MIME),),
        )
        async with self.db.write() as s:
            for lead in leads:
                channel, destination = await self.addresses.staff(s, lead)
                await outbox.enqueue(
                    s,
                    channel=channel,
                    destination=destination,
                    kind="reply",
                    now=now,
                    payload=reply.to_dict(),
                    dedupe_key=f"performance_sheet:{first:%Y-%m}:{lead}",
                )
        return f"{first:%Y-%m} sheet queued to {len(leads)} lead(s)"

    async def daily_report(self, now: datetime) -> str:
        """Yesterday's (local) daily report, queued once per day to each group receiving "daily_report"."""
        day = self._today(now) - timedelta(days=1)
        key = f"daily_report:{day.isoformat()}"
        targets = [
            f"{key}:{k}"
            for k, g in self.config.groups.items()
            if "daily_report" in g.receives and group_address(k, g) is not None
        ]
        if not targets:
            return "no group receives daily_report"
        async with self.db.read() as s:  # render outside the write lock: charts take a while
            done = set(
                (
                    await s.execute(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(targets)))
                ).scalars()
            )
            if len(done) == len(targets):
                return f"{day} already queued"
            from orderbot.bot.intents.intent import Intent

            ctx = Context(_system_asker(), s, now, self.config, self.charts)
            reply = await reports.daily(Intent("report.daily", {"date": day.isoformat()}), ctx)
        async with self.db.write() as s:
            await notify_groups(s, self.config, "daily_report", reply, now=now, dedupe_key=key)
        return f"{day} queued to {len(targets) - len(done)} group(s)"

    async def digests(self, now: datetime) -> list[Digest]:
        """What each active salesperson would be told this morning (people with nothing to say included)."""
        today = self._today(now)
        y_from, y_to = day_bounds(today - timedelta(days=1), today - timedelta(days=1), self.config.timezone)
        owner = func.coalesce(Order.sales_owner, Customer.sales_owner)
        cols = (
            Order.order_no,
            Order.status,
            Order.stage,
            Order.stage_since,
            Order.promised_date,
            Order.promised_override,
            Order.delivered_at,
            Customer.name.label("customer"),
            owner.label("owner"),
        )
        async with self.db.read() as s:
            people = [
                p
                for p in (await s.execute(select(Staff).where(Staff.active.is_(True)).order_by(Staff.id))).scalars()
                if DIGEST_ROLES & set(p.roles or ())
            ]
            if not people:
                return []
            ids = [p.id for p in people]
            base = select(*cols).join(Customer, Customer.id == Order.customer_id).where(owner.in_(ids))
            open_rows = (await s.execute(base.where(Order.status.in_(OPEN)))).all()
            delivered_rows = (
                await s.execute(base.where(Order.delivered_at >= y_from, Order.delivered_at < y_to))
            ).all()
        out = {p.id: Digest(p.id, p.name) for p in people}
        for r in open_rows:
            d = out[r.owner]
            d.open += 1
            due = r.promised_override or r.promised_date
            if due is not None and due < today:
                d.late.append((r.order_no, r.customer, (today - due).days))
            normal = STAGE_NORMAL_HOURS.get(r.stage, 0)
            hours = (now - r.stage_since).total_seconds() / 3600
            if normal > 0 and hours > normal:
                d.stuck.append((r.order_no, r.customer, STAGE_NAMES.get(r.stage, r.stage), hours, normal))
        for r in delivered_rows:
            due = r.promised_override or r.promised_date
            was_late = due is not None and r.delivered_at.astimezone(self.zone).date() > due
            out[r.owner].delivered.append((r.order_no, was_late))
        return list(out.values())

    async def my_customers(self, now: datetime) -> str:
        """One message per salesperson with something to say, once per person per day."""
        today = self._today(now)
        digests = [d for d in await self.digests(now) if d.worth_sending]
        queued = 0
        async with self.db.write() as s:
            for d in digests:
                channel, destination = await self.addresses.staff(s, d.staff_id)
                queued += await outbox.enqueue(
                    s,
                    channel=channel,
                    destination=destination,
                    kind="reply",
                    payload=d.reply(today).to_dict(),
                    now=now,
                    dedupe_key=f"my_customers:{today.isoformat()}:{d.staff_id}",
                )
        return f"{queued} digest(s) queued"

    async def tracking_stale(self, now: datetime) -> int:
        """A task per shipped order whose last tracking update (or shipping time) is older than
        `tracking_stale_hours`; the key `tracking_stale:<order_no>` opens it once."""
        hours = self.config.scheduler.tracking_stale_hours
        last = func.coalesce(Order.tracking_at, Order.shipped_at)
        opened = 0
        async with self.db.write() as s:
            rows = (
                await s.execute(
                    select(
                        Order.id,
                        Order.order_no,
                        Order.carrier_code,
                        Order.tracking_no,
                        Order.tracking_status,
                        last.label("last"),
                    )
                    .where(
                        Order.status == "shipped",
                        last < now - timedelta(hours=hours),
                        # the task opens once per order: skip the ones it has already opened for
                        ~exists().where(Task.key == literal("tracking_stale:", String) + Order.order_no),
                    )
                    .order_by(Order.id)
                )
            ).all()
            for r in rows:
                where = " ".join(x for x in (r.carrier_code, r.tracking_no) if x) or "无运单号"
                subject = (
                    f"物流轨迹超过{hours:g}小时未更新：{r.order_no}（{where}，最后状态 {r.tracking_status or '无'}）"
                )
                opened += await open_task(
                    s,
                    key=f"tracking_stale:{r.order_no}",
                    type="tracking_stale",
                    subject=subject,
                    order_id=r.id,
                    now=now,
                    data={"last_update": r.last.isoformat(), "tracking_status": r.tracking_status},
                )
        return opened

    async def media_purge(self, now: datetime) -> int:
        async with self.db.write() as s:
            return await media.purge_expired(s, now)
