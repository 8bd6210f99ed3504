"""The scheduler on SQLite and PostgreSQL: the lease (acquire, renew, steal after expiry, release, one winner
among many), two instances on one database (one runs the jobs; the other takes over when it dies), failing jobs,
daily slots that run once across takeovers, and each standard job against the database and the outbox."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from datetime import date, datetime, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from sqlalchemy import func, select, update

from orderbot.bot.charts import ensure_cjk_font, render_async
from orderbot.core import media, outbox
from orderbot.core.clock import ManualClock
from orderbot.core.models import JobLease, Media, Order, OutboxMessage, Staff, Task
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import get_order, ingest_order
from orderbot.core.staff import sync_staff
from orderbot.db.engine import Database
from orderbot.messaging.addresses import Addresses
from orderbot.jobs.standard import standard_jobs
from orderbot.jobs.scheduler import (
    SCHEDULER,
    Daily,
    Interval,
    JobSpec,
    Lease,
    Scheduler,
    attach,
    daily,
    every,
    latest_slot,
)
from orderbot.webhooks.common import CLOCK, CONFIG, DB

from tests.conftest import T0, pg_engine
from tests.helpers import add_products, order_json

UTC = UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")


def second_db(db_url_info) -> Database:
    """Another connection pool on the same database: what a second server sees."""
    url, connect_args = db_url_info
    return Database.from_url(url) if url.startswith("sqlite") else Database(pg_engine(url, connect_args))


async def outbox_rows(db, **where) -> list[OutboxMessage]:
    async with db.read() as s:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(OutboxMessage, k) == v)
        return list((await s.execute(stmt)).scalars())


async def wait_for(predicate, timeout: float, step: float = 0.05) -> float:
    """Poll until predicate() is true; the seconds it took (fails the test on timeout)."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(step)
    return time.monotonic() - t0


def recording_job(db, tag: str):
    """A job that leaves a trace in the database: one outbox row per run, addressed to its instance."""

    async def run(now):
        async with db.write() as s:
            await outbox.enqueue(
                s, channel="sandbox", destination=f"test:{tag}", kind="reply", payload={"text": tag}, now=now
            )

    return run


# -- the lease -----------------------------------------------------------------------------------------------------


async def test_lease_acquire_renew_steal_and_release(db):
    clock = ManualClock(T0)
    a = Lease(db, "jobs", holder="server-a", ttl=30, clock=clock)
    b = Lease(db, "jobs", holder="server-b", ttl=30, clock=clock)
    assert await a.acquire() and a.held
    assert not await b.acquire() and not b.held
    assert b.other == ("server-a", T0 + timedelta(seconds=30))

    clock.advance(seconds=20)
    assert await a.acquire()  # renewed: the expiry moves, the acquisition time stays
    async with db.read() as s:
        row = await s.get(JobLease, "jobs")
        assert (row.holder, row.acquired_at, row.expires_at) == ("server-a", T0, T0 + timedelta(seconds=50))
    clock.advance(seconds=29)
    assert not await b.acquire()  # 1 s left: still a's

    clock.advance(seconds=2)  # a did not renew: expired
    assert not a.held
    assert await b.acquire() and b.held
    assert not await a.acquire() and not a.held
    assert await b.current() == ("server-b", T0 + timedelta(seconds=81))
    async with db.read() as s:
        assert (await s.get(JobLease, "jobs")).acquired_at == T0 + timedelta(seconds=51)

    assert not await a.release()  # not a's to release
    assert await b.release() and not b.held
    assert await a.acquire()  # free at once, no waiting for the old expiry
    assert (await a.current())[0] == "server-a"


async def test_only_one_of_many_contenders_wins(db_url_info, db):
    clock = ManualClock(T0)
    others = [second_db(db_url_info) for _ in range(3)]
    try:
        leases = [Lease(d, "race", holder=f"h{i}", ttl=30, clock=clock) for i, d in enumerate([db, *others] * 2)]
        for _round in range(3):  # a free lease, then an expired one, twice
            won = await asyncio.gather(*(lease.acquire() for lease in leases))
            assert sum(won) == 1
            winner = leases[won.index(True)].holder
            assert (await leases[0].current())[0] == winner
            clock.advance(seconds=31)
    finally:
        for d in others:
            await d.dispose()


async def test_a_daily_slot_is_claimed_once_and_old_claims_are_forgotten(db):
    clock = ManualClock(T0)
    a = Lease(db, holder="a", clock=clock)
    b = Lease(db, holder="b", clock=clock)
    slot = datetime(2026, 2, 10, 9, 0, tzinfo=SHANGHAI)
    assert await a.claim_slot("daily_report", slot)
    assert not await b.claim_slot("daily_report", slot)
    assert await b.claim_slot("daily_report", slot + timedelta(days=1))
    clock.advance(days=9)
    assert await a.claim_slot("daily_report", slot + timedelta(days=9))
    async with db.read() as s:
        names = sorted((await s.execute(select(JobLease.name).where(JobLease.name.like("fire:%")))).scalars())
    assert names == ["fire:daily_report:2026-02-19T09:00"]


def test_latest_slot_and_triggers():
    trig = daily("10:00", "16:00")
    at = datetime(2026, 2, 10, 3, 0, tzinfo=UTC)  # 11:00 local
    assert latest_slot(trig, SHANGHAI, at) == datetime(2026, 2, 10, 10, 0, tzinfo=SHANGHAI)
    assert latest_slot(trig, SHANGHAI, at - timedelta(hours=2)) == datetime(2026, 2, 9, 16, 0, tzinfo=SHANGHAI)
    assert latest_slot(daily("09:00"), SHANGHAI, T0) == datetime(2026, 2, 10, 9, 0, tzinfo=SHANGHAI)
    assert every(minutes=5) == Interval(300) and every(seconds=30) == Interval(30)
    with pytest.raises(ValueError):
        daily("9:5")
    with pytest.raises(ValueError):
        Scheduler(None, [JobSpec("x", every(seconds=1), None), JobSpec("x", every(seconds=1), None)])


# -- two servers -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_two_instances_one_runs_the_jobs_and_the_other_takes_over(db_url_info, db, caplog):
    caplog.set_level(logging.INFO, logger="orderbot.scheduler")
    ttl = 2.0
    db2 = second_db(db_url_info)
    one = Scheduler(
        db, [JobSpec("tick", every(seconds=0.2), recording_job(db, "one"))], lease_seconds=ttl, holder="one"
    )
    two = Scheduler(
        db2, [JobSpec("tick", every(seconds=0.2), recording_job(db2, "two"))], lease_seconds=ttl, holder="two"
    )
    try:
        await one.start()
        await two.start()
        assert one.is_leader and not two.is_leader
        await asyncio.sleep(1.2)
        ran_one = len(await outbox_rows(db, destination="test:one"))
        assert ran_one >= 3
        assert await outbox_rows(db, destination="test:two") == []
        assert two.counts[("tick", "skipped")] >= 3 and two.counts[("tick", "ok")] == 0

        await one.stop(release=False, timeout=0)  # dies: no release, the lease row stays until it expires
        assert (await two.lease.current())[0] == "one"
        took = await wait_for(lambda: two.is_leader, timeout=ttl + 1.5)
        assert took <= ttl + 0.5
        assert (await two.lease.current())[0] == "two"
        await asyncio.sleep(0.7)
        assert len(await outbox_rows(db, destination="test:two")) >= 2
        assert len(await outbox_rows(db, destination="test:one")) == ran_one  # the dead one ran nothing more
        assert "scheduler two is now the leader" in caplog.text
        assert "job tick ok in" in caplog.text
        assert "raised an exception" not in caplog.text

        await two.stop()  # clean: the lease is released at once
        holder, expires = await two.lease.current()
        assert holder == "two" and expires <= datetime.now(UTC)
    finally:
        await one.stop(release=False, timeout=0)
        await two.stop(timeout=0)
        await db2.dispose()


async def test_a_failing_job_is_logged_and_the_scheduler_carries_on(db, caplog):
    caplog.set_level(logging.INFO, logger="orderbot.scheduler")

    async def boom(now):
        raise RuntimeError("carrier API down")

    sched = Scheduler(
        db,
        [JobSpec("boom", every(seconds=0.1), boom), JobSpec("good", every(seconds=0.1), recording_job(db, "good"))],
        lease_seconds=5,
    )
    await sched.start()
    try:
        await wait_for(lambda: sched.counts[("boom", "failed")] >= 3, timeout=3)
        assert len(await outbox_rows(db, destination="test:good")) >= 2
        run = await sched.run_now("boom")
        assert run.outcome == "failed" and run.error == "RuntimeError: carrier API down"
        assert sched.is_leader and sched.status()["jobs"]["boom"]["last"]["outcome"] == "failed"
        assert "job boom failed after" in caplog.text and "carrier API down" in caplog.text
        with pytest.raises(KeyError):
            await sched.run_now("nope")
    finally:
        await sched.stop()
    assert sched.counts[("good", "ok")] >= 2


async def test_a_clean_stop_lets_the_running_job_finish_then_releases(db, caplog):
    caplog.set_level(logging.INFO)
    started = asyncio.Event()

    async def slow(now):
        started.set()
        await asyncio.sleep(0.4)
        await recording_job(db, "slow")(now)

    sched = Scheduler(db, [JobSpec("slow", every(seconds=0.1), slow)], lease_seconds=5, holder="s1")
    await sched.start()
    await asyncio.wait_for(started.wait(), timeout=3)
    await sched.stop()
    assert sched.counts[("slow", "ok")] == 1 and sched.counts[("slow", "cancelled")] == 0
    assert len(await outbox_rows(db, destination="test:slow")) == 1
    holder, expires = await sched.lease.current()
    assert holder == "s1" and expires <= datetime.now(UTC)
    assert "raised an exception" not in caplog.text

    started.clear()
    crash = Scheduler(db, [JobSpec("slow", every(seconds=0.1), slow)], lease_seconds=5, holder="s2")
    await crash.start()
    await asyncio.wait_for(started.wait(), timeout=3)
    await crash.stop(release=False, timeout=0)  # a crash: the job is cut short, the lease is kept
    assert crash.counts[("slow", "cancelled")] == 1
    assert len(await outbox_rows(db, destination="test:slow")) == 1
    holder, expires = await crash.lease.current()
    assert holder == "s2" and expires > datetime.now(UTC)
    assert "raised an exception" not in caplog.text


async def test_a_daily_run_missed_during_a_takeover_is_caught_up_once(db_url_info, db):
    """The leader died just before the slot: the next leader runs it on taking over; a third never repeats it."""
    local_now = datetime.now(SHANGHAI) - timedelta(minutes=1)
    spec_time = f"{local_now:%H:%M}"
    db2 = second_db(db_url_info)
    first = Scheduler(db, [JobSpec("report", daily(spec_time), recording_job(db, "report"))], lease_seconds=5)
    second = Scheduler(db2, [JobSpec("report", daily(spec_time), recording_job(db2, "report"))], lease_seconds=5)
    try:
        await first.start()
        await wait_for(lambda: first.counts[("report", "ok")] == 1, timeout=3)
        await first.stop()
        await second.start()
        assert second.is_leader
        await asyncio.sleep(0.3)
        assert second.counts[("report", "ok")] == 0
        assert len(await outbox_rows(db, destination="test:report")) == 1
        async with db.read() as s:
            claims = list((await s.execute(select(JobLease.name).where(JobLease.name.like("fire:report:%")))).scalars())
        assert len(claims) == 1
    finally:
        await first.stop(timeout=0)
        await second.stop(timeout=0)
        await db2.dispose()


async def test_attach_starts_with_the_app_and_releases_on_cleanup(db, config):
    app = web.Application()
    app[CONFIG], app[DB], app[CLOCK] = config, db, ManualClock(T0)
    seen = []

    async def job(now):
        seen.append(now)

    sched = attach(app, [JobSpec("j", every(minutes=5), job)], holder="app-1")
    assert app[SCHEDULER] is sched
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert sched.is_leader
        assert (await sched.lease.current())[0] == "app-1"
        assert (await sched.run_now("j")).outcome == "ok" and seen == [T0]  # jobs get the app's clock
    finally:
        await runner.cleanup()
    holder, expires = await sched.lease.current()
    assert holder == "app-1" and expires <= datetime.now(UTC) and not sched.is_leader


def test_attach_does_nothing_when_disabled(config):
    app = web.Application()
    off = config.model_copy(update={"scheduler": config.scheduler.model_copy(update={"enabled": False})})
    assert attach(app, [], config=off, db=None, clock=None) is None
    assert len(app.cleanup_ctx) == 0


# -- the standard jobs ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    ensure_cjk_font(cache_dir=tmp_path_factory.mktemp("mpl"))
    return functools.partial(render_async)


class FakeWorker:
    def __init__(self):
        self.wake = asyncio.Event()


def test_standard_jobs_follow_the_config(config):
    async def rules(now):
        return None

    plain = {s.name: s.trigger for s in standard_jobs(config, db=None)}
    assert plain == {
        "daily_report": Daily(("09:00",)),
        "my_customers": Daily(("09:05",)),
        "tracking_stale": Interval(3600),
        "task_reminders": Interval(900),
        "performance_sheet": Daily(("08:30",)),
        "media_purge": Interval(3600),
    }
    full = {s.name: s.trigger for s in standard_jobs(config, db=None, worker=FakeWorker(), rules=rules, courier=rules)}
    assert full["rules"] == Interval(300) and full["courier"] == Daily(("10:00", "16:00"))
    assert full["outbox"] == Interval(30)


async def test_outbox_job_wakes_the_worker(db, config):
    worker = FakeWorker()
    sched = Scheduler(db, standard_jobs(config, db=db, worker=worker))
    assert not worker.wake.is_set()
    assert (await sched.run_now("outbox")).outcome == "ok"
    assert worker.wake.is_set()


async def _order(s, config, no, customer, *, owner, created, **fields):
    await ingest_order(
        s,
        parse_order(
            order_json(
                no,
                customer={"id": customer, "name": f"客户{customer}", "province": "浙江"},
                created_at=created.isoformat(),
                sales_owner=owner,
                lines=[{"sku": "CASE-IP15-CLR", "qty": 1}],
            )
        ),
        source="test",
        config=config,
        now=created,
    )
    order = await get_order(s, no)
    if fields:
        await s.execute(update(Order).where(Order.id == order.id).values(**fields))
    return order


async def test_daily_report_goes_to_the_management_group_once_a_day(db, config, charts):
    created = datetime(2026, 2, 9, 2, 0, tzinfo=UTC)
    async with db.write() as s:
        await add_products(s, config, stock=50, at=created)
        await _order(s, config, "SO202602090001", "C1", owner="wanglei", created=created)
        await _order(s, config, "SO202602090002", "C2", owner="wanglei", created=created + timedelta(hours=1))
    sched = Scheduler(db, standard_jobs(config, db=db, charts=charts), clock=ManualClock(T0))
    run = await sched.run_now("daily_report")
    assert run.outcome == "ok" and run.result == "2026-02-09 queued to 1 group(s)"
    rows = await outbox_rows(db)
    assert [(r.channel, r.destination, r.dedupe_key) for r in rows] == [
        ("sandbox", "group:management", "daily_report:2026-02-09:management")
    ]
    payload = rows[0].payload
    assert payload["title"] == "2月9日日报" and len(payload["charts"]) == 1
    assert payload["table"]["rows"][0][:2] == ["订单", "2"]  # yesterday's two orders

    again = await sched.run_now("daily_report")  # a restart, a second leader: nothing more is queued
    assert again.outcome == "ok" and again.result == "2026-02-09 already queued"
    assert len(await outbox_rows(db)) == 1
    sched.clock = ManualClock(T0 + timedelta(days=1))  # the next morning: the next report
    assert (await sched.run_now("daily_report")).result == "2026-02-10 queued to 1 group(s)"
    assert [r.dedupe_key for r in await outbox_rows(db)][1] == "daily_report:2026-02-10:management"


async def test_the_daily_report_job_and_the_chat_send_the_same_report(db, config):
    """One use case: the job's report is the one 日报 answers in chat for that day, at that time."""
    from orderbot.bot.handlers import reports
    from orderbot.bot.handlers.base import Asker, Context
    from orderbot.bot.intents.intent import Intent

    created = datetime(2026, 2, 9, 2, 0, tzinfo=UTC)
    async with db.write() as s:
        await add_products(s, config, stock=50, at=created)
        await _order(s, config, "SO202602090001", "C1", owner="wanglei", created=created)
    sched = Scheduler(db, standard_jobs(config, db=db), clock=ManualClock(T0))
    assert (await sched.run_now("daily_report")).result == "2026-02-09 queued to 1 group(s)"
    [row] = await outbox_rows(db)
    async with db.read() as s:
        asker = Asker("boss", "老板", frozenset({"management"}))
        chat = await reports.daily(Intent("report.daily", {"date": "2026-02-09"}), Context(asker, s, T0, config, None))
    sent = chat.to_dict()
    assert row.payload["title"] == sent["title"] == "2月9日日报"
    assert row.payload["text"] == sent["text"] and "待办：未完成" in sent["text"]
    assert row.payload["table"] == sent["table"] and sent["table"]["rows"][0][:2] == ["订单", "1"]


async def test_my_customers_digest_for_a_salesperson_with_a_late_order_and_none_for_one_without(db, config):
    created = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)
    recent = T0 - timedelta(hours=1)
    async with db.write() as s:
        await sync_staff(s, config)
        s.add(Staff(id="lina", name="李娜", roles=["sales"], active=True))
        await add_products(s, config, stock=50, at=created)
        # wanglei: one late and stuck at customs, one on time, one delivered yesterday after its promised date
        await _order(
            s,
            config,
            "SO202602010001",
            "C1",
            owner="wanglei",
            created=created,
            status="shipped",
            stage="customs",
            stage_since=T0 - timedelta(hours=60),
            promised_date=date(2026, 2, 6),
            shipped_at=created,
        )
        await _order(
            s,
            config,
            "SO202602010002",
            "C1",
            owner="wanglei",
            created=created,
            status="paid",
            stage="inventory",
            stage_since=recent,
            promised_date=date(2026, 2, 20),
        )
        await _order(
            s,
            config,
            "SO202602010003",
            "C2",
            owner="wanglei",
            created=created,
            status="delivered",
            stage="delivered",
            stage_since=datetime(2026, 2, 9, 4, tzinfo=UTC),
            delivered_at=datetime(2026, 2, 9, 4, tzinfo=UTC),
            promised_date=date(2026, 2, 7),
        )
        # an old delivery is not news; a late order whose override moved the date is not late
        await _order(
            s,
            config,
            "SO202602010004",
            "C2",
            owner="wanglei",
            created=created,
            status="delivered",
            stage="delivered",
            stage_since=created,
            delivered_at=created + timedelta(days=3),
            promised_date=date(2026, 2, 6),
        )
        # lina: an open order on time and moving, nothing to say
        await _order(
            s,
            config,
            "SO202602010005",
            "C3",
            owner="lina",
            created=created,
            status="paid",
            stage="inventory",
            stage_since=recent,
            promised_date=date(2026, 2, 5),
            promised_override=date(2026, 2, 15),
        )
    # the sandbox stands in for the staff's chat here (outside the demo there is no sandbox channel)
    sched = Scheduler(db, standard_jobs(config, db=db, addresses=Addresses({"sandbox"})), clock=ManualClock(T0))
    run = await sched.run_now("my_customers")
    assert run.outcome == "ok" and run.result == "1 digest(s) queued"
    rows = await outbox_rows(db)
    assert [(r.channel, r.destination, r.dedupe_key) for r in rows] == [
        ("sandbox", "user:wanglei", "my_customers:2026-02-10:wanglei")
    ]
    assert rows[0].payload["title"] == "我的客户 · 2月10日"
    assert rows[0].payload["text"].split("\n") == [
        "王磊，早上好！你名下客户的订单（2月10日）：",
        "· 进行中 2 单",
        "· 已过承诺交付日未签收 1 单：SO202602010001（客户C1，逾期4天）",
        "· 卡在环节 1 单：SO202602010001（客户C1，海关申报已60小时，正常48小时内）",
        "· 昨日签收 1 单（其中 1 单晚于承诺日）：SO202602010003",
    ]
    assert (await sched.run_now("my_customers")).result == "0 digest(s) queued"
    assert len(await outbox_rows(db)) == 1


async def test_tracking_stale_opens_one_task_per_quiet_order(db, config):
    created = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)
    async with db.write() as s:
        await add_products(s, config, stock=50, at=created)
        shipped = dict(status="shipped", stage="last_mile", stage_since=created)
        await _order(
            s,
            config,
            "SO202602010011",
            "C1",
            owner=None,
            created=created,
            **shipped,
            shipped_at=created,
            tracking_at=T0 - timedelta(hours=100),
            tracking_no="YT1",
            tracking_status="InTransit_PickedUp",
        )
        await _order(
            s,
            config,
            "SO202602010012",
            "C1",
            owner=None,
            created=created,
            **shipped,
            shipped_at=T0 - timedelta(hours=80),
        )  # never tracked: counted from shipping
        await _order(
            s,
            config,
            "SO202602010013",
            "C1",
            owner=None,
            created=created,
            **shipped,
            shipped_at=created,
            tracking_at=T0 - timedelta(hours=10),
        )  # recent news
        await _order(
            s,
            config,
            "SO202602010014",
            "C1",
            owner=None,
            created=created,
            status="delivered",
            stage="delivered",
            stage_since=created,
            shipped_at=created,
            delivered_at=created,
            tracking_at=created,
        )
    sched = Scheduler(db, standard_jobs(config, db=db), clock=ManualClock(T0))
    assert (await sched.run_now("tracking_stale")).result == 2
    assert (await sched.run_now("tracking_stale")).result == 0
    async with db.read() as s:
        tasks = list((await s.execute(select(Task).order_by(Task.key))).scalars())
    assert [(t.key, t.type, t.state) for t in tasks] == [
        ("tracking_stale:SO202602010011", "tracking_stale", "open"),
        ("tracking_stale:SO202602010012", "tracking_stale", "open"),
    ]
    assert tasks[0].subject == "物流轨迹超过72小时未更新：SO202602010011（YT1，最后状态 InTransit_PickedUp）"
    assert tasks[0].order_id is not None


async def test_media_purge_deletes_expired_rows(db, config):
    async with db.write() as s:
        old, _ = await media.store(s, b"old", "image/png", now=T0 - timedelta(days=8))
        fresh, _ = await media.store(s, b"new", "image/png", now=T0 - timedelta(days=1))
    sched = Scheduler(db, standard_jobs(config, db=db), clock=ManualClock(T0))
    assert (await sched.run_now("media_purge")).result == 1
    async with db.read() as s:
        assert list((await s.execute(select(Media.id))).scalars()) == [fresh]
        assert (await s.execute(select(func.count()).select_from(Media))).scalar() == 1


@pytest.mark.slow
async def test_two_full_app_instances_run_the_rule_job_once_and_hand_over(db, config):
    """Two `create_app` servers on one database, as `orderbot serve` builds them: only the lease holder
    evaluates the rules; when it shuts down the other takes the jobs over."""
    from orderbot.app import create_app
    from orderbot.config import parse_config
    from orderbot.core.models import RuleEvaluation
    from orderbot.jobs.scheduler import SCHEDULER
    from orderbot.settings import load_settings

    from tests.conftest import EXAMPLE_CONFIG
    from tests.helpers import no_reply

    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace("rules_every_minutes = 5", "rules_every_minutes = 0.02")
    fast = parse_config(text.replace("[scheduler]\n", "[scheduler]\nlease_seconds = 5\n"), "fast.toml")
    settings = load_settings(env_file=None)
    apps = [
        create_app(settings, config=fast, db=db, handler=no_reply, run_worker=False, run_scheduler=True)
        for _ in range(2)
    ]
    runners = [web.AppRunner(a) for a in apps]
    for r in runners:
        await r.setup()
    try:
        # until one instance has evaluated the rules twice (about 1.2 s apart); the other had the same time
        await wait_for(lambda: max(a[SCHEDULER].counts[("rules", "ok")] for a in apps) >= 2, timeout=15, step=0.1)
        leaders = [a[SCHEDULER].is_leader for a in apps]
        assert sorted(leaders) == [False, True]
        lead = leaders.index(True)
        ran = [a[SCHEDULER].counts[("rules", "ok")] for a in apps]
        assert ran[lead] >= 2 and ran[1 - lead] == 0
        async with db.read() as s:
            assert (
                await s.execute(
                    select(func.count()).select_from(RuleEvaluation).where(RuleEvaluation.rule == "cancel_rate")
                )
            ).scalar_one() >= 2
        await runners[lead].cleanup()  # the leader stops (releasing its lease)
        runners[lead] = None
        other = apps[1 - lead][SCHEDULER]
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and other.counts[("rules", "ok")] == 0:
            await asyncio.sleep(0.2)
        assert other.is_leader and other.counts[("rules", "ok")] >= 1
    finally:
        for r in runners:
            if r is not None:
                await r.cleanup()
