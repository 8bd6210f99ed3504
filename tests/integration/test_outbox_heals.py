"""The outbox heals: outages of local fake platforms (hang, HTTP 500 for ten minutes, recovery) on a manual clock,
a lane per channel, malformed rows dead at once, dead letters told once per burst, undeliverable never "sent"."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

from orderbot.messaging.reply import Reply
from orderbot.core import outbox
from orderbot.core.models import OutboxMessage, Staff, Task
from orderbot.core.warehouse.scanning import CustomerNotice
from orderbot.messaging.addresses import Addresses
from orderbot.messaging.deadletters import DeadLetterNotices
from orderbot.messaging.links import MediaLinks
from orderbot.messaging.senders.dingtalk import DingTalkApi, DingTalkSender
from orderbot.messaging.worker import OutboxWorker

from ..fakes.dingtalk import FakeDingTalk
from tests.fakes import serving


async def queue(db, clock, channel, destination, text, **payload):
    async with db.write() as s:
        await outbox.enqueue(
            s,
            channel=channel,
            destination=destination,
            kind="reply",
            payload={**Reply(text=text).to_dict(), **payload},
            now=clock(),
        )


async def rows(db) -> list[OutboxMessage]:
    async with db.read() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def states(db) -> dict[str, int]:
    async with db.read() as s:
        return await outbox.counts(s)


@pytest.fixture
async def ding(clock):
    async with serving(FakeDingTalk(clock=lambda: clock().timestamp())) as fake:
        yield fake
        fake.outage.recover()


def ding_sender(http, fake, db, links, clock) -> DingTalkSender:
    """A DingTalk sender whose API base is the fake: session webhooks are posted only to DingTalk's own hosts or to
    DINGTALK_API_BASE's origin (issue 13, item 1), here the local fake."""
    return DingTalkSender(
        http, DingTalkApi(http, base=fake.base, app_key="ding-key", app_secret="ding-secret"), db, links, clock
    )


def ding_route(fake, clock, session="S1", expires=None) -> dict:
    expires = expires if expires is not None else str(int(clock().timestamp() * 1000) + 3_600_000)
    return {"_route": {"session": f"{fake.base}/robot/sendBySession?session={session}", "session_expires": expires}}


@pytest.mark.slow
async def test_hang_then_ten_minutes_of_500_then_recovery_delivers_each_message_once(db, clock, wecom):
    fake, senders, _ = wecom
    texts = [f"订单 SO2026021000{i:02d} 已发货" for i in range(24)]
    for i, text in enumerate(texts):  # 8 people × 2 app messages, 1 group robot × 8
        if i < 16:
            await queue(db, clock, "wecom", f"user:U{i % 8}", text)
        else:
            await queue(db, clock, "wecom_robot", "robot:OPS", text)
    worker = OutboxWorker(db, senders, clock, seed=7, send_timeout=0.5)
    start = clock()
    fake.outage.start("hang")  # first the API hangs: every send times out (0.5 s of wall time here)
    assert await worker.run_once() == 0
    fake.outage.recover()
    fake.outage.start("500")  # then ten minutes of HTTP 500
    while clock() - start < timedelta(minutes=10):
        assert await worker.run_once() == 0
        clock.advance(seconds=20)
    assert await states(db) == {"pending": 24}  # nothing dead, nothing "sent"
    assert all(r.first_attempt_at is not None and r.last_error for r in await rows(db))
    fake.outage.recover()
    recovered = clock()
    delivered = 0
    while delivered < 24 and clock() - recovered < timedelta(minutes=30):
        delivered += await worker.run_once()
        clock.advance(seconds=5)
    assert await states(db) == {"sent": 24}
    sent = [m["markdown"]["content"] for m in fake.messages] + [
        m.get("text", {}).get("content") or m["markdown"]["content"] for m in fake.robot_messages["OPS"]
    ]
    assert Counter(sent) == Counter(texts)  # every message once: none lost, none doubled
    # Healing waits at most one back-off (capped at 10 minutes): once one send works, the channel's other
    # waiting messages are due at once.
    assert clock() - recovered <= timedelta(minutes=10, seconds=10)


async def test_a_hung_wecom_api_does_not_delay_an_unrelated_dingtalk_reply(db, clock, wecom, ding):
    fake, senders, api = wecom
    await api.tokens.get()  # so the sends themselves hang, not one token fetch they all wait for
    links = MediaLinks("https://bot.example.com", b"k" * 32)
    for i in range(20):
        await queue(db, clock, "wecom", f"user:U{i}", f"企业微信消息 {i}")
    fake.outage.start("hang")
    async with aiohttp.ClientSession() as http:
        all_senders = {**senders, "dingtalk": ding_sender(http, ding, db, links, clock)}
        worker = OutboxWorker(db, all_senders, clock, seed=1, send_timeout=60)
        stop = asyncio.Event()
        running = asyncio.ensure_future(worker.run_forever(stop, idle=0.05))
        try:
            async with asyncio.timeout(10):
                while fake.outage.hanging < 16:  # the WeCom lane is full of hung sends
                    await asyncio.sleep(0.01)
            await queue(db, clock, "dingtalk", "group:cid1", "钉钉回复", **ding_route(ding, clock))
            worker.wake.set()
            async with asyncio.timeout(10):  # far less than the hung sends' 60 s timeout
                while not ding.session_messages["S1"]:
                    await asyncio.sleep(0.01)
            assert fake.outage.hanging == 16 and not fake.messages  # WeCom still hangs meanwhile
            assert "钉钉回复" in ding.session_messages["S1"][0]["markdown"]["text"]
        finally:
            fake.outage.recover()  # the hung sends fail (503) and go back to wait; stop lets the drains end
            stop.set()
            await asyncio.wait_for(running, timeout=30)
    by_state = Counter(r.state for r in await rows(db))
    assert by_state["dead"] == 0 and by_state["pending"] + by_state["sent"] == 21
    assert by_state["sent"] == 1 + len(fake.messages)  # what WeCom got after it recovered, once each


async def test_a_malformed_dingtalk_row_is_dead_at_once_and_the_next_one_goes_out(db, clock, ding):
    links = MediaLinks("https://bot.example.com", b"k" * 32)
    await queue(db, clock, "dingtalk", "group:cid1", "坏消息", **ding_route(ding, clock, expires="abc"))
    await queue(db, clock, "dingtalk", "group:cid1", "好消息", **ding_route(ding, clock))
    async with aiohttp.ClientSession() as http:
        worker = OutboxWorker(db, {"dingtalk": ding_sender(http, ding, db, links, clock)}, clock, seed=1)
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0  # nothing left pending, nothing leased
    bad, good = await rows(db)
    assert (bad.state, bad.attempts) == ("dead", 1)
    assert "ValueError" in bad.last_error and "不再重试" in bad.last_error
    assert good.state == "sent"
    assert ["好消息" in m["markdown"]["text"] for m in ding.session_messages["S1"]] == [True]


async def test_an_unreadable_platform_answer_is_retried_not_taken_for_a_malformed_row(db, clock, ding):
    links = MediaLinks("https://bot.example.com", b"k" * 32)
    await queue(db, clock, "dingtalk", "group:cid1", "消息", **ding_route(ding, clock))
    ding.outage.start("500")
    async with aiohttp.ClientSession() as http:
        worker = OutboxWorker(db, {"dingtalk": ding_sender(http, ding, db, links, clock)}, clock, seed=1)
        assert await worker.run_once() == 0
        (row,) = await rows(db)
        assert row.state == "pending" and "HTTP 500" in row.last_error
        ding.outage.recover()
        clock.advance(minutes=11)
        assert await worker.run_once() == 1


@pytest.mark.slow
async def test_past_the_window_messages_die_with_the_reason_and_admins_get_one_notice_per_burst(db, clock, wecom):
    fake, senders, _ = wecom
    async with db.write() as s:
        s.add(
            Staff(
                id="admin1",
                name="管理员",
                roles=["admin"],
                wecom_userid="AdminW",
                dingtalk_userid="AdminD",
                email="admin@example.com",
            )
        )
        s.add(Staff(id="sales1", name="销售", roles=["sales"], wecom_userid="SalesW"))
    for i in range(30):
        await queue(db, clock, "wecom", f"user:U{i}", f"消息 {i}")
    notices = DeadLetterNotices(db, clock, {"wecom", "dingtalk", "email"}, quiet=timedelta(hours=1))
    worker = OutboxWorker(db, senders, clock, seed=2, retry_window=timedelta(hours=2), dead_letters=notices)
    fake.outage.start("500")
    start = clock()
    while clock() - start < timedelta(hours=2, minutes=40):
        await worker.run_once()
        clock.advance(minutes=5)
    dead = [r for r in await rows(db) if r.kind == "reply"]
    assert {r.state for r in dead} == {"dead"}
    assert all("HTTP 500" in r.last_error and "2 小时" in r.last_error for r in dead)
    admin_rows = [r for r in await rows(db) if r.kind == "admin_notice"]
    # one burst, one notice per admin route: not over the failing WeCom, but DingTalk and email
    assert sorted((r.channel, r.destination) for r in admin_rows) == [
        ("dingtalk", "user:AdminD"),
        ("email", "email:admin@example.com"),
    ]
    assert "30 条消息无法送达" in admin_rows[0].payload["text"]
    # more deaths within the quiet hour are kept for the next notice, not sent one by one
    await queue(db, clock, "nowhere", "user:x", "无渠道")
    await worker.run_once()
    assert len([r for r in await rows(db) if r.kind == "admin_notice"]) == 2
    clock.advance(hours=1)
    await worker.flush_dead_letters()
    later = [r for r in await rows(db) if r.kind == "admin_notice"][2:]
    assert len(later) == 2 and "1 条消息无法送达" in later[0].payload["text"]


async def test_undeliverable_is_dead_with_the_reason_and_a_customer_notice_becomes_a_task(db, clock):
    addresses = Addresses({"wecom"})  # serve with WeCom configured: no sandbox, no email, no WeChat OA
    notice = CustomerNotice(
        customer_id="C0042",
        openid=None,
        email=None,
        order_no="SO202602100042",
        text="已发出|单号:YT1234567890",
        fields={},
    )
    async with db.write() as s:
        s.add(Staff(id="noids", name="没有账号", roles=["warehouse"]))
        await s.flush()
        channel, destination = await addresses.staff(s, "noids")
        await outbox.enqueue(
            s,
            channel=channel,
            destination=destination,
            kind="reply",
            payload=Reply(text="扫码异常").to_dict(),
            now=clock(),
        )
        assert await addresses.notify_customer(s, notice, now=clock()) is False
        assert await addresses.notify_customer(s, notice, now=clock()) is False  # once per order
    by_destination = {r.destination: r for r in await rows(db)}
    staff_row, customer_row = by_destination["staff:noids"], by_destination["customer:C0042"]
    assert (staff_row.state, staff_row.destination) == ("dead", "staff:noids")
    assert "没有可用的企业微信或钉钉账号" in staff_row.last_error
    assert (customer_row.state, customer_row.destination) == ("dead", "customer:C0042")
    assert "没有公众号 openid 也没有邮箱" in customer_row.last_error
    async with db.read() as s:
        (task,) = (await s.execute(select(Task))).scalars()
    assert task.type == "notify_customer" and task.state == "open"
    assert task.subject.startswith("无法通知客户：订单 SO202602100042") and "YT1234567890" in task.subject
    # no worker ever claims a dead row, so nothing is ever marked sent
    assert await OutboxWorker(db, {}, clock).run_once() == 0
    assert await states(db) == {"dead": 2}
    # with a way to reach the customer, the notice is queued as before
    reachable = Addresses({"email"})
    async with db.write() as s:
        ok = await reachable.notify_customer(
            s, CustomerNotice("C1", None, "c1@example.com", "SO202602100043", "已发出", {}), now=clock()
        )
    assert ok and (await rows(db))[-1].destination == "email:c1@example.com"
