"""The outbox worker against a local fake WeCom: limits, splitting, tokens, back-off, dead letters, crashes."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from orderbot.messaging.worker import OutboxWorker
from orderbot.messaging.reply import Button, Card, Chart, Reply
from orderbot.core import outbox
from orderbot.core.models import OutboxMessage


async def queue(db, clock, channel, destination, reply: Reply, n: int = 1, kind: str = "reply"):
    async with db.write() as s:
        for _ in range(n):
            await outbox.enqueue(
                s, channel=channel, destination=destination, kind=kind, payload=reply.to_dict(), now=clock()
            )


async def states(db) -> dict[str, int]:
    async with db.read() as s:
        return await outbox.counts(s)


async def test_long_markdown_is_split_in_order_under_the_byte_limit(db, clock, wecom):
    fake, senders, _ = wecom
    text = "\n".join(f"第{i}行：深圳-洛杉矶线因美西港口罢工导致船期跳变，影响本周期137单" for i in range(60))
    await queue(db, clock, "wecom", "user:WangLei", Reply(text=text, markdown=True, title="延迟原因"))
    assert await OutboxWorker(db, senders, clock, seed=1).run_once() == 1
    contents = [m["markdown"]["content"] for m in fake.messages]
    assert len(contents) > 2 and all(len(c.encode()) <= 2048 for c in contents)
    assert contents[0].startswith(f"(1/{len(contents)})") and contents[-1].startswith(f"({len(contents)}/")
    rebuilt = "\n".join(c.split("\n", 1)[1] for c in contents)
    assert "第0行" in rebuilt and rebuilt.index("第0行") < rebuilt.index("第59行")


async def test_robot_sends_twenty_a_minute_and_queues_the_rest(db, clock, wecom):
    fake, senders, _ = wecom
    await queue(db, clock, "wecom_robot", "robot:KEY1", Reply(text="告警"), n=25)
    worker = OutboxWorker(db, senders, clock, seed=1)
    assert await worker.run_once() == 20
    assert await worker.run_once() == 0  # nothing dropped, nothing sent early
    assert await states(db) == {"sent": 20, "pending": 5}
    clock.advance(seconds=61)
    assert await worker.run_once() == 5
    assert len(fake.robot_messages["KEY1"]) == 25
    async with db.read() as s:
        attempts = (await s.execute(select(OutboxMessage.attempts))).scalars().all()
    assert max(attempts) == 1  # waiting for the window does not count as an attempt


async def test_platform_rate_error_backs_off_at_least_a_minute(db, clock, wecom):
    fake, senders, _ = wecom
    fake.robot_limit = 3  # the platform is stricter than we assumed
    await queue(db, clock, "wecom_robot", "robot:KEY2", Reply(text="告警"), n=5)
    worker = OutboxWorker(db, senders, clock, seed=1)
    assert await worker.run_once() == 3
    async with db.read() as s:
        row = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.state == "pending").order_by(OutboxMessage.id)))
            .scalars()
            .first()
        )
    assert row.last_error.startswith("45009") and row.next_attempt_at >= clock() + timedelta(seconds=60)
    clock.advance(seconds=30)
    assert await worker.run_once() == 0
    clock.advance(seconds=31)
    assert await worker.run_once() == 2
    assert len(fake.robot_messages["KEY2"]) == 5


async def test_expired_token_is_refetched_once_and_single_flight(db, clock, wecom):
    fake, senders, api = wecom
    await queue(db, clock, "wecom", "user:A", Reply(text="1"))
    for i in range(8):
        await queue(db, clock, "wecom", f"user:P{i}", Reply(text="并发"))
    assert await OutboxWorker(db, senders, clock, seed=1).run_once() == 9
    assert fake.token_requests == 1  # nine concurrent senders, one token fetch
    fake.expire_tokens()
    await queue(db, clock, "wecom", "user:A", Reply(text="2"))
    assert await OutboxWorker(db, senders, clock, seed=1).run_once() == 1
    assert fake.token_requests == 2 and len(fake.messages) == 10


async def test_untrusted_ip_is_not_retried_and_is_reported(db, clock, wecom):
    fake, senders, _ = wecom
    fake.untrusted_ip = True
    await queue(db, clock, "wecom", "user:A", Reply(text="hi"))
    worker = OutboxWorker(db, senders, clock, seed=1)
    assert await worker.run_once() == 0
    assert await states(db) == {"dead": 1}
    assert "60020" in worker.alerts.problems["wecom"] and "可信IP" in worker.alerts.problems["wecom"]


async def test_transient_errors_retry_for_the_window_then_die_and_can_be_resent(db, clock, wecom):
    fake, senders, _ = wecom
    fake.fail_next = [{"errcode": -1, "errmsg": "system busy"}] * 3
    await queue(db, clock, "wecom", "user:A", Reply(text="hi"))
    worker = OutboxWorker(db, senders, clock, seed=3, retry_window=timedelta(hours=3))
    for _ in range(3):  # tries at 0 h, 2 h (still inside the window), 4 h (past it: dead)
        await worker.run_once()
        clock.advance(hours=2)
    async with db.read() as s:
        (row,) = await outbox.listing(s, dead=True)
    assert row.attempts == 3 and "system busy" in row.last_error and "3 小时" in row.last_error
    assert row.first_attempt_at is not None
    async with db.write() as s:
        assert await outbox.resend(s, row.id, clock())
    assert await worker.run_once() == 1
    assert fake.messages[-1]["markdown"]["content"] == "hi"
    assert await states(db) == {"sent": 1}


async def test_crashed_worker_lease_expires_and_message_is_sent_once(db, clock, wecom):
    fake, senders, _ = wecom
    await queue(db, clock, "wecom", "user:A", Reply(text="只发一次"))
    async with db.write() as s:  # a worker claims, then dies before sending
        assert len(await outbox.claim_due(s, clock())) == 1
    worker = OutboxWorker(db, senders, clock, seed=1)
    assert await worker.run_once() == 0  # leased, not yet due
    clock.advance(seconds=61)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert [m["markdown"]["content"] for m in fake.messages] == ["只发一次"]


async def test_partial_multi_part_send_resumes_without_repeating(db, clock, wecom):
    fake, senders, _ = wecom
    text = "\n".join("很长的一行" * 20 for _ in range(40))  # several parts
    await queue(db, clock, "wecom", "user:B", Reply(text=text))
    fake.fail_on_call = {2: {"errcode": -1, "errmsg": "system busy"}}  # the second part fails once
    worker = OutboxWorker(db, senders, clock, seed=1)
    assert await worker.run_once() == 0
    assert len(fake.messages) == 1
    async with db.read() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert row.payload["_progress"] == {"done": 1} and row.state == "pending"
    clock.advance(hours=1)
    assert await worker.run_once() == 1
    contents = [m["markdown"]["content"] for m in fake.messages]
    total = int(contents[0].split("/")[1].split(")")[0])
    assert len(contents) == total  # every part exactly once, in order
    assert [c.split(")")[0] for c in contents] == [f"({i}/{total}" for i in range(1, total + 1)]


async def test_digest_folds_a_burst_into_one_message(db, clock, wecom):
    fake, senders, _ = wecom
    for i in range(5):
        await queue(
            db,
            clock,
            "wecom_robot",
            "robot:OPS",
            Reply(text=f"订单 SO{i} 卡关", title="卡关提醒", markdown=True, digest_key="customs_stuck"),
        )
    assert await OutboxWorker(db, senders, clock, seed=1).run_once() == 5
    (msg,) = fake.robot_messages["OPS"]
    content = msg["markdown"]["content"]
    assert "卡关提醒（汇总 5 条）" in content and all(f"SO{i}" in content for i in range(5))
    assert await states(db) == {"sent": 5}


@pytest.mark.slow
async def test_card_with_buttons_and_big_chart(db, clock, wecom):
    fake, senders, _ = wecom
    card = Card(
        "渠道已冻结：TikTok",
        "取消率 4.2% > 3.5%",
        (("渠道", "tiktok"), ("取消率", "4.2%")),
        (Button("撤销冻结", "undo_freeze:tiktok", 4),),
        task_id="freeze-tiktok-1",
    )
    await queue(db, clock, "wecom", "user:HePing", Reply(card=card))
    img = Image.effect_noise((1600, 1600), 100).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert buf.tell() > 2 * 1024 * 1024
    await queue(db, clock, "wecom_robot", "robot:MGMT", Reply(text="趋势", charts=(Chart("趋势", buf.getvalue()),)))
    assert await OutboxWorker(db, senders, clock, seed=1).run_once() == 2
    sent_card = fake.messages[0]["template_card"]
    assert sent_card["task_id"] == "freeze-tiktok-1"
    assert sent_card["button_list"] == [{"text": "撤销冻结", "style": 4, "key": "undo_freeze:tiktok"}]
    image = fake.robot_messages["MGMT"][1]["image"]
    assert len(image["base64"]) * 3 / 4 <= 2 * 1024 * 1024


async def test_card_update_uses_the_response_code_once_and_app_chats_work(db, clock, wecom):
    fake, senders, _ = wecom
    update = {"userids": ["HePing"], "response_code": "RC-1", "button": {"replace_name": "已撤销"}}
    await queue(db, clock, "wecom", "user:HePing", Reply(), kind="card_update")
    async with db.write() as s:
        await outbox.enqueue(
            s, channel="wecom", destination="user:HePing", kind="card_update", payload=update, now=clock()
        )
        await outbox.enqueue(
            s, channel="wecom", destination="user:HePing", kind="card_update", payload=update, now=clock()
        )
    await queue(db, clock, "wecom", "chat:wrOPS", Reply(text="仓库群通知"))
    await OutboxWorker(db, senders, clock, seed=1).run_once()
    assert [u["response_code"] for u in fake.card_updates] == ["RC-1"]
    assert fake.card_updates[0]["agentid"] == 1000002
    async with db.read() as s:
        dead = await outbox.listing(s, dead=True)
    assert len(dead) == 2  # the empty payload and the second use of a once-only code
    assert any("40129" in d.last_error for d in dead)
    assert any(m.get("chatid") == "wrOPS" for m in fake.messages)


async def test_unknown_channel_is_dead_with_reason_in_one_transaction(db, clock, wecom):
    fake, senders, _ = wecom
    for who in ("x", "y", "z"):
        await queue(db, clock, "dingtalk", f"user:{who}", Reply(text="hi"))
    await queue(db, clock, "wecom", "user:A", Reply(text="still sent"))
    worker = OutboxWorker(db, {"wecom": senders["wecom"]}, clock)
    writes = []
    original = db.write

    def counting_write(*args, **kwargs):
        writes.append(1)
        return original(*args, **kwargs)

    db.write = counting_write
    try:
        assert await worker.run_once() == 1
    finally:
        db.write = original
    async with db.read() as s:
        dead = await outbox.listing(s, dead=True)
    assert [r.last_error for r in dead] == ["没有配置渠道 dingtalk"] * 3
    assert len(writes) == 3  # the claim, the three dead letters together, the delivered one
    assert [m["markdown"]["content"] for m in fake.messages] == ["still sent"]
    await asyncio.sleep(0)


async def test_claims_take_due_rows_oldest_first_and_concurrent_claims_never_share_a_row(db, clock):
    for i in range(10):
        await queue(db, clock, "wecom", f"user:U{i}", Reply(text=f"m{i}"))
    async with db.write() as s:
        first = await outbox.claim_due(s, clock(), limit=3)
    assert [c.payload["text"] for c in first] == ["m0", "m1", "m2"] and {c.attempts for c in first} == {1}
    if db.dialect == "sqlite":
        return  # SQLite has one writer: two claims cannot overlap at all
    claimed, holding = [], asyncio.Event()

    async def claim_and_hold():  # a second worker's transaction stays open while the other one claims
        async with db.write() as s:
            claimed.append(await outbox.claim_due(s, clock(), limit=4))
            holding.set()
            await asyncio.sleep(0.3)

    other = asyncio.ensure_future(claim_and_hold())
    await holding.wait()
    async with db.write() as s:
        claimed.append(await outbox.claim_due(s, clock(), limit=4))
    await other
    ids = [c.id for batch in claimed for c in batch]
    assert len(ids) == 7 and len(set(ids)) == 7  # 4 + the 3 left: skipped the rows locked by the other
