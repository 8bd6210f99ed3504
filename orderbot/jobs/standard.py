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
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from orderbot.bot.briefings import daily_report_reply, reminder_reply, sales_digest_reply
from orderbot.bot.performance_sheet import MIME, performance_xlsx
from orderbot.config import BusinessConfig
from orderbot.core import media, outbox
from orderbot.core.orders.stale_tracking import open_stale_tracking_tasks
from orderbot.core.reports.sales import SalesDigest, sales_digests
from orderbot.core.tasks import remind_overdue
from orderbot.core.warehouse.performance import month_of, monthly_figures
from orderbot.db.engine import Database
from orderbot.jobs.scheduler import JobSpec, daily, every
from orderbot.messaging.addresses import Addresses
from orderbot.messaging.notify import group_address, notify_groups
from orderbot.messaging.reply import Attachment, Reply

Tick = Callable[[datetime], Awaitable[Any]]


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


class StandardJobs:
    def __init__(self, config: BusinessConfig, db: Database, *, charts=None, addresses: Addresses | None = None):
        self.config, self.db, self.charts = config, db, charts
        self.addresses = addresses or Addresses(set())
        self.zone = ZoneInfo(config.timezone)

    def _today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    async def task_reminders(self, now: datetime) -> str:
        """Remind each overdue task's owner once, in the transaction that marks it reminded."""
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
            done = await outbox.queued_keys(s, targets)
            if len(done) == len(targets):
                return f"{day} already queued"
            reply = await daily_report_reply(s, self.config, day, now=now, charts=self.charts)
        async with self.db.write() as s:
            await notify_groups(s, self.config, "daily_report", reply, now=now, dedupe_key=key)
        return f"{day} queued to {len(targets) - len(done)} group(s)"

    async def digests(self, now: datetime) -> list[SalesDigest]:
        """What each active salesperson would be told this morning (people with nothing to say included)."""
        async with self.db.read() as s:
            return await sales_digests(s, now=now, timezone=self.config.timezone)

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
                    payload=sales_digest_reply(d, today).to_dict(),
                    now=now,
                    dedupe_key=f"my_customers:{today.isoformat()}:{d.staff_id}",
                )
        return f"{queued} digest(s) queued"

    async def tracking_stale(self, now: datetime) -> int:
        """A task per shipped order whose last tracking update (or shipping time) is older than
        `tracking_stale_hours`; the key `tracking_stale:<order_no>` opens it once."""
        async with self.db.write() as s:
            return await open_stale_tracking_tasks(s, hours=self.config.scheduler.tracking_stale_hours, now=now)

    async def media_purge(self, now: datetime) -> int:
        async with self.db.write() as s:
            return await media.purge_expired(s, now)
