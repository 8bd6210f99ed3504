"""Tasks (待办): listed by scope with permission checks, taken, handed over and completed from card buttons with
their history, overdue owners reminded once, and the daily report's count."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from orderbot.bot.dispatch import Asker, Dispatcher
from orderbot.bot.handlers.base import Context
from orderbot.bot.handlers.tasks import listing
from orderbot.core import tasks
from orderbot.core.errors import PermissionDenied
from orderbot.core.models import OutboxMessage, Task, TaskEvent
from orderbot.core.orders.service import open_task
from orderbot.core.staff import sync_staff
from orderbot.jobs.scheduler import Scheduler
from orderbot.jobs.standard import standard_jobs
from orderbot.messaging.addresses import Addresses
from orderbot.messaging.inbound import CardAction, Origin
from orderbot.messaging.pipeline import InboundPipeline

from tests.conftest import ManualClock

NOW = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)


@pytest.fixture
async def board(db, config):
    """Tasks as the bot opens them: ids 1..4."""
    async with db.write() as s:
        await sync_staff(s, config)
        for key, type_, subject, assignee, age in (
            ("scan_exception:1", "scan_exception", "异常扫码：校验码不符（A1，zhangsan）", "zhaoqiang", 6),
            ("scan_exception:2", "scan_exception", "异常扫码：批次不符（A2，zhangsan）", None, 1),
            ("customs_docs:SO202602010001", "customs_docs", "报关资料待补：SO202602010001", None, 2),
            ("tracking_stale:SO202602010002", "tracking_stale", "物流轨迹超过72小时未更新", "wujun", 30),
        ):
            await open_task(s, key=key, type=type_, subject=subject, now=NOW - timedelta(hours=age), assignee=assignee)
    return db


def roles(config, staff_id):
    return frozenset(config.staff_by_id()[staff_id].roles)


async def listed(db, config, who, scope="me"):
    async with db.read() as s:
        found = await tasks.list_tasks(s, config.tasks, staff_id=who, roles=roles(config, who), scope=scope, now=NOW)
    return [t.id for t in found.tasks], found


async def test_lists_by_scope_overdue_first_with_permissions(board, config):
    ids, found = await listed(board, config, "zhangsan")  # a packer: the warehouse team's tasks
    assert ids == [1, 2] and (found.total, found.overdue) == (2, 1)
    assert found.tasks[0].overdue and found.tasks[0].assignee_name == "赵强"
    assert (await listed(board, config, "chenjing"))[0] == [3]  # customs
    assert (await listed(board, config, "wujun"))[0] == [4]  # logistics: owns it, overdue
    assert (await listed(board, config, "zhaoqiang", "warehouse"))[0] == [1, 2]
    assert (await listed(board, config, "chenjing", "customs"))[0] == [3]
    assert (await listed(board, config, "sunli", "all"))[0] == [1, 4, 2, 3]  # overdue first, each newest first
    with pytest.raises(PermissionDenied):
        await listed(board, config, "zhangsan", "warehouse")  # 仓库待办 is for the lead
    with pytest.raises(PermissionDenied):
        await listed(board, config, "chenjing", "all")


async def test_list_reply_has_take_done_hand_buttons(board, config):
    async with board.read() as s:
        ctx = Context(Asker("zhangsan", "张三", roles(config, "zhangsan")), s, NOW, config, None)
        # `task.list` joins the parser's intents in another branch; the handler reads only `slots`.
        reply = await listing(SimpleNamespace(name="task.list", slots={"scope": "me"}), ctx)
    assert reply.title == "我的待办" and reply.table.rows[0][0] == "#1" and reply.table.rows[0][-1] == "⚠️逾期"
    assert [b.key for b in reply.card.buttons] == [
        "task_take:1",
        "task_done:1",
        "task_hand:1",
        "task_take:2",
        "task_done:2",
        "task_hand:2",
    ]
    assert "共 2 条未完成，其中逾期 1 条" in reply.text


class Clicker:
    """Card button presses through the real pipeline and dispatcher (no parser needed for buttons)."""

    def __init__(self, db, config):
        self.pipeline = InboundPipeline(
            db, Dispatcher(db, None, config, lambda: NOW, addresses=Addresses({"sandbox"})), lambda: NOW
        )
        self.n = 0

    async def __call__(self, who: str, key: str):
        self.n += 1
        origin = Origin("sandbox", who, None, reply_channel="sandbox", reply_to=f"user:{who}")
        return (await self.pipeline.process(CardAction(origin, key, f"c{self.n}", NOW))).reply


async def test_take_hand_over_and_done_with_history(board, config):
    click = Clicker(board, config)
    refused = await click("chenjing", "task_take:2")  # customs is not in the warehouse team
    assert "不能认领" in refused.text
    refused = await click("zhangsan", "task_take:1")  # a member cannot take the lead's task
    assert "已由 赵强 负责" in refused.text
    taken = await click("zhangsan", "task_take:2")
    assert "张三 已认领待办 #2" in taken.text and ("负责人", "张三") in taken.card.fields

    choose = await click("zhaoqiang", "task_hand:1")
    # the warehouse team but the task's owner (the lead): 李四 and 张三 of the example company
    assert sorted(b.key for b in choose.card.buttons) == ["task_hand:1:lisi", "task_hand:1:zhangsan"]
    refused = await click("zhangsan", "task_hand:1:zhangsan")  # only owner or lead hands over
    assert "负责人或该组组长" in refused.text
    handed = await click("zhaoqiang", "task_hand:1:zhangsan")
    assert ("负责人", "张三") in handed.card.fields
    done = await click("zhangsan", "task_done:1")
    assert "张三 已完成待办 #1" in done.text and done.title == "待办 #1（已完成）" and not done.card.buttons
    assert "赵强 → 张三" in done.text
    again = await click("zhangsan", "task_done:1")
    assert "已完成，无需再处理" in again.text

    async with board.read() as s:
        history = [
            (e.task_id, e.actor, e.action)
            for e in (await s.execute(select(TaskEvent).order_by(TaskEvent.id))).scalars()
        ]
        task1 = await s.get(Task, 1)
    assert history == [(2, "zhangsan", "take"), (1, "zhaoqiang", "hand_over"), (1, "zhangsan", "done")]
    assert (task1.state, task1.assignee, task1.closed_at) == ("done", "zhangsan", NOW)
    assert (await listed(board, config, "zhangsan"))[0] == [2]


async def test_overdue_owners_are_reminded_once(board, config):
    sched = Scheduler(board, standard_jobs(config, db=board, addresses=Addresses({"sandbox"})), clock=ManualClock(NOW))
    assert (await sched.run_now("task_reminders")).result == "2 overdue task(s) reminded"
    assert (await sched.run_now("task_reminders")).result == "0 overdue task(s) reminded"
    async with board.read() as s:
        sent = sorted((m.destination, m.payload["text"]) for m in (await s.execute(select(OutboxMessage))).scalars())
        events = (await s.execute(select(TaskEvent.task_id, TaskEvent.action))).all()
    assert sent == [
        ("user:wujun", "你的待办 #4 已逾期 6 小时：物流轨迹超过72小时未更新"),
        ("user:zhaoqiang", "你的待办 #1 已逾期 2 小时：异常扫码：校验码不符（A1，zhangsan）"),
    ]
    assert sorted(events) == [(1, "reminded"), (4, "reminded")]
    async with board.read() as s:
        assert await tasks.task_counts(s, config.tasks, now=NOW) == (4, 2)


async def test_a_backlog_of_overdue_tasks_is_one_message_per_owner(board, config):
    async with board.write() as s:
        for i in range(6):
            await open_task(
                s,
                key=f"scan_exception:x{i}",
                type="scan_exception",
                subject=f"异常扫码 {i}",
                now=NOW - timedelta(hours=10 + i),
                assignee="zhaoqiang",
            )
    sched = Scheduler(board, standard_jobs(config, db=board, addresses=Addresses({"sandbox"})), clock=ManualClock(NOW))
    assert (await sched.run_now("task_reminders")).result == "8 overdue task(s) reminded"
    async with board.read() as s:
        msgs = {m.destination: m.payload for m in (await s.execute(select(OutboxMessage))).scalars()}
    lead = msgs["user:zhaoqiang"]
    assert lead["text"].startswith("你有 7 条待办已逾期：\n· #10 已逾期 11 小时：异常扫码 5")
    assert lead["text"].endswith("……回复「我的待办」查看全部")
    assert [b["key"] for b in lead["card"]["buttons"]] == ["task_done:10", "task_hand:10"]
