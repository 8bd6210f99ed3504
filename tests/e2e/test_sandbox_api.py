"""The sandbox's JSON routes (`orderbot demo`), driven without a browser on a seeded SQLite file.

Each test gets a copy of one seeded database and its own app (`create_app(demo=True, run_scheduler=True)` with an
`OffsetClock`), so what one test fast-forwards or ships never leaks into another. Everything is checked where the
page would see it — the conversation log at `/sandbox/feed` — and where the business keeps it (the database).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import datetime, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from orderbot.app import create_app
from orderbot.config import parse_config
from orderbot.core.models import Channel, InboundEvent, Package
from orderbot.core.staff import sync_staff
from orderbot.db.engine import Database
from orderbot.sandbox.clock import MAX_JUMP, RULES_EVERY, OffsetClock, due_jobs, next_local, step_jobs
from orderbot.jobs.scheduler import JobSpec, daily, every
from orderbot.tools.seed import seed_database
from orderbot.settings import load_settings

from tests.conftest import EXAMPLE_CONFIG

SECRET = "orderbot-demo-labels"
ZONE = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.xdist_group("sandbox_api")  # one pytest-xdist worker builds the module's seeded source


def _config():
    return parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8"), str(EXAMPLE_CONFIG))


# The module's company opens at 10:00 local time whatever the hour of the run, as `orderbot demo --start 10:00`
# does: the seed paints the past up to then and each test's demo clock starts there. At least two hours ahead,
# since the demo clock only moves forward and the module runs well within that.
START = next_local(datetime.now(UTC) + timedelta(hours=2), ZoneInfo(_config().timezone), ["10:00"])


def demo_clock(state) -> OffsetClock:
    """The demo's clock for a copy of the module's database: at START (and moving on from there)."""
    clock = OffsetClock(state=state)
    clock.jump_to(START)
    return clock


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One seeded demo database for the module (copied per test)."""
    path = tmp_path_factory.mktemp("sandbox") / "demo.db"

    async def run():
        db = Database.from_url(f"sqlite+aiosqlite:///{path}")
        try:
            await seed_database(db, orders=600, days=30, seed=7, config=_config(), now=START)
            async with db.write() as s:
                await sync_staff(s, _config())
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            await db.dispose()

    asyncio.run(run())
    return path


@pytest.fixture
def parser(static_parser):
    return static_parser


class Page:
    """What the sandbox page does, as plain HTTP calls."""

    def __init__(self, client: TestClient, db: Database, clock: OffsetClock):
        self.client, self.db, self.clock = client, db, clock
        self.seen = 0

    async def get(self, path: str, status: int = 200) -> dict:
        resp = await self.client.get(path)
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def post(self, path: str, body, status: int = 200) -> dict:
        resp = await self.client.post(path, data=body if isinstance(body, str) else json.dumps(body))
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def say(self, user: str, text: str, conv: str | None = None, msg_id: str | None = None) -> dict:
        return await self.post(
            "/sandbox/message",
            {"user": user, "conv": conv or f"user:{user}", "text": text, "msg_id": msg_id or uuid.uuid4().hex},
        )

    async def click(self, user: str, conv: str, button: dict, task_id: str | None = None) -> dict:
        return await self.post(
            "/sandbox/card",
            {
                "user": user,
                "conv": conv,
                "key": button["key"],
                "text": button["text"],
                "task_id": task_id,
                "msg_id": uuid.uuid4().hex,
            },
        )

    async def scan(self, user: str, label: str) -> dict:
        return await self.post("/sandbox/scan", {"user": user, "label": label, "msg_id": uuid.uuid4().hex})

    async def bot_says_in_any_group(self, match, timeout: float = 20.0, after: int | None = None) -> dict:
        """The next bot message in any group chat that `match`es."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            feed = await self.get(f"/sandbox/feed?after={self.seen if after is None else after}")
            for item in feed["items"]:
                if item["dir"] == "out" and item["conv"].startswith("group:") and match(item):
                    self.seen = item["id"]
                    return item
            await asyncio.sleep(0.1)
        raise AssertionError("no matching bot message in any group")

    async def bot_says(
        self, conv: str, match=lambda item: True, timeout: float = 20.0, after: int | None = None
    ) -> dict:
        """The next bot message in `conv` that `match`es, after the last one returned (or after log id `after`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            feed = await self.get(f"/sandbox/feed?after={self.seen if after is None else after}")
            for item in feed["items"]:
                if item["dir"] == "out" and item["conv"] == conv and match(item):
                    self.seen = item["id"]
                    return item
            await asyncio.sleep(0.1)
        raise AssertionError(f"no matching bot message in {conv}")


def _text(item: dict) -> str:
    reply = item["reply"]
    card = reply.get("card") or {}
    return "\n".join(
        x for x in (reply.get("title"), reply.get("text"), card.get("title"), card.get("description")) if x
    )


@pytest.fixture
async def page(seeded, parser, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copy(seeded, path)
    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    clock = demo_clock(tmp_path / "demo.db.clock.json")
    settings = load_settings(env_file=None, ORDERBOT_LABEL_SECRET=SECRET)
    app = create_app(settings, config=_config(), db=db, clock=clock, parser=parser, demo=True, run_scheduler=True)
    async with TestClient(TestServer(app)) as client:
        yield Page(client, db, clock)
    await db.dispose()


async def test_page_and_state_show_people_groups_and_the_customer(page):
    resp = await page.client.get("/?as=zhangsan")
    html = await resp.text()
    assert resp.status == 200 and 'data-person="wanglei"' in html and "仓库群 = 仓库、值班组长、物流、管理层" in html
    boot = json.loads(html.split('<script id="boot" type="application/json">')[1].split("</script>")[0])
    assert boot["as"] == "zhangsan"
    state = await page.get("/sandbox/state")
    people = {p["id"]: p for p in state["people"]}
    assert len(people) == 14 and set(state["groups"]) == {"customs", "warehouse", "management", "product"}
    assert people["wanglei"]["groups"] == [] and people["zhangsan"]["groups"] == ["warehouse"]
    assert people["sunli"]["groups"] == ["customs", "warehouse", "management", "product"]
    assert people["zhangsan"]["scanner"] and not people["wanglei"]["scanner"]
    assert "查看华东区昨日延迟TOP3客户" in people["wanglei"]["examples"]
    assert state["customer"]["id"].startswith("customer:")
    assert state["clock"]["adjustable"] and state["weather"] == {"demo": True, "alert": None}
    for asset in ("app.js", "app.css", "index.html"):
        assert (await page.client.get(f"/sandbox/static/{asset}")).status == 200


async def test_a_question_is_answered_through_the_outbox_with_table_and_chart(page):
    msg_id = uuid.uuid4().hex
    first = await page.say("wanglei", "查看华东区昨日延迟TOP3客户", msg_id=msg_id)
    assert first["accepted"] and (await page.say("wanglei", "查看华东区昨日延迟TOP3客户", msg_id=msg_id))["duplicate"]
    item = await page.bot_says("user:wanglei")
    reply = item["reply"]
    assert "华东区" in reply["title"] and reply["table"]["headers"][0] == "客户"
    (chart,) = reply["charts"]
    png = await page.client.get(chart["url"])
    assert png.status == 200 and png.content_type == "image/png" and (await png.read()).startswith(b"\x89PNG")
    feed = await page.get("/sandbox/feed?after=0")
    echoes = [i for i in feed["items"] if i["dir"] == "in"]
    assert [(e["sender"], e["text"]) for e in echoes] == [("wanglei", "查看华东区昨日延迟TOP3客户")]
    async with page.db.read() as s:
        rows = (
            await s.execute(
                select(InboundEvent.state).where(InboundEvent.source == "sandbox", InboundEvent.key == f"msg:{msg_id}")
            )
        ).all()
    assert rows == [("done",)]  # stored once, processed once


async def test_group_messages_are_answered_in_the_group(page):
    await page.say("chenjing", "帮助", conv="group:customs")
    item = await page.bot_says("group:customs")
    assert item["reply"]["title"] == "OrderBot 帮助" and "我能帮你" in item["reply"]["text"]


async def test_bad_requests_are_refused_in_chinese(page):
    cases = [
        ({"user": "nobody", "conv": None, "text": "帮助", "msg_id": "m-00000001"}, "未知的演示人员"),
        ({"user": "wanglei", "conv": "group:customs", "text": "帮助", "msg_id": "m-00000002"}, "王磊 不在这个群里"),
        ({"user": "wanglei", "conv": "user:wanglei", "text": "  ", "msg_id": "m-00000003"}, "消息不能为空"),
        ({"user": "wanglei", "conv": "user:wanglei", "text": "帮助"}, "msg_id"),
    ]
    for body, reason in cases:
        answer = await page.post("/sandbox/message", body, status=400)
        assert answer["ok"] is False and reason in answer["error"]
    assert "JSON" in (await page.post("/sandbox/message", "{not json", status=400))["error"]
    assert (
        await page.post(
            "/sandbox/card", {"user": "heping", "conv": None, "key": "nocolon", "msg_id": "m-00000004"}, status=400
        )
    )["error"] == "按钮参数不对"
    assert (await page.post("/sandbox/clock", {"jump": "yesterday"}, status=400))["error"] == "不认识的快进方式"
    assert (await page.client.get("/sandbox/media/999999/0.png")).status == 404


async def test_freeze_card_and_its_undo_button_change_the_channel(page):
    await page.say("heping", "冻结TikTok渠道")
    asked = (await page.bot_says("user:heping", lambda i: i["reply"]["card"] is not None))["reply"]
    assert asked["text"].startswith("将冻结 TikTok Shop 渠道") and asked["card"]["title"] == "请确认：冻结渠道新订单"
    assert (await page.get("/sandbox/cockpit"))["frozen"] == []  # nothing happens before 确认
    yes = asked["card"]["buttons"][0]
    assert yes["text"] == "确认"
    await page.click("heping", "user:heping", yes, asked["card"]["task_id"])
    item = await page.bot_says("user:heping", lambda i: i["reply"]["card"] is not None)
    card = item["reply"]["card"]
    assert card["title"] == "已冻结 TikTok Shop 渠道" and card["buttons"][0]["key"] == "unfreeze:tiktok"
    assert (await page.get("/sandbox/cockpit"))["frozen"] == ["TikTok Shop"]
    await page.click("heping", "user:heping", card["buttons"][0], card["task_id"])
    answer = await page.bot_says("user:heping")
    assert answer["reply"]["text"].startswith("已解冻 TikTok Shop 渠道")
    async with page.db.read() as s:
        assert (await s.get(Channel, "tiktok")).frozen is False
    assert (await page.get("/sandbox/cockpit"))["frozen"] == []
    clicks = [i for i in (await page.get("/sandbox/feed?after=0"))["items"] if i.get("kind") == "click"]
    assert [(c["sender"], c["button"]) for c in clicks] == [("heping", "确认"), ("heping", "撤销冻结")]
    await page.click("heping", "user:heping", yes, asked["card"]["task_id"])  # the old 确认 again: done already
    assert (await page.bot_says("user:heping"))["reply"]["text"] == "这个请求已处理过，不会重复执行。"
    assert (await page.get("/sandbox/cockpit"))["frozen"] == []


async def test_help_in_english_lists_what_the_role_may_do(page):
    await page.say("zhangsan", "help")
    reply = (await page.bot_says("user:zhangsan"))["reply"]
    assert reply["title"] == "OrderBot help" and "stock of a SKU" in reply["text"]
    assert "freeze a sales channel" not in reply["text"]  # a packer may not freeze channels


async def test_a_typed_write_in_a_group_is_confirmed_by_its_asker_replying_1(page):
    conv = "group:management"  # 何平 (channel ops) and 孙丽 (management) both sit in it
    await page.say("heping", "静默取消率告警2小时", conv=conv)
    asked = await page.bot_says(conv, lambda i: i["reply"]["card"] is not None)
    assert (
        asked["reply"]["text"].startswith("将静默「取消率」告警 120 分钟") and "回复 1 确认" in asked["reply"]["text"]
    )
    await page.say("sunli", "1", conv=conv)  # nothing waits for 孙丽: read as a new message, never a confirmation
    assert not (await page.bot_says(conv))["reply"]["text"].startswith("已静默")
    await page.say("heping", "1", conv=conv)
    assert (await page.bot_says(conv))["reply"]["text"].startswith("已静默「取消率」告警 120 分钟")


async def test_scans_ship_repeat_and_fail_quietly_and_the_customer_hears(page):
    listing = await page.get("/sandbox/packages")
    state = await page.get("/sandbox/state")
    mine = [p for p in listing["waiting"] if p["demo_customer"]]
    assert mine, "the demo customer has a parcel at the packing station"
    # ready to pack, as the demo company's packers see it; never an order still in quality inspection (质检工单)
    assert {p["stage"] for p in listing["waiting"]} <= {"库存池", "打包台"}, {p["stage"] for p in listing["waiting"]}
    order = mine[0]["order_no"]
    assert len([p for p in mine if p["order_no"] == order]) == 1  # one scan ships it
    good = await page.scan("zhangsan", mine[0]["labels"]["good"])
    assert good["outcome"] == "ok" and good["answer"].startswith(f"✅ 出库成功 {order}")
    assert "整单已发出，生成运单号后（快递交接批次）通知客户" in good["answer"]
    ran = await page.post("/sandbox/clock", {"jump": "courier"})  # the batch issues the waybill, then they hear
    assert "courier" in [r["job"] for r in ran["ran"]]
    notice = await page.bot_says(state["customer"]["id"])
    assert notice["reply"]["title"] == "您的订单已发出" and order in notice["reply"]["text"]
    assert "已发出|单号:" in notice["reply"]["text"]
    repeat = await page.scan("zhangsan", mine[0]["labels"]["good"])
    assert repeat["outcome"] == "repeat" and "无需重复出库" in repeat["answer"]
    # Taken after the jump: during working hours the demo company's packers scan what waited three hours.
    other = next(p for p in (await page.get("/sandbox/packages"))["waiting"] if p["order_no"] != order)
    for kind in ("wrong_sku", "damaged"):
        bad = await page.scan("zhangsan", other["labels"][kind])
        assert bad["answer"] == "已记录，值班组长会处理" and bad["outcome"] in ("wrong_sku", "bad_check")
    ticket = await page.bot_says("user:zhaoqiang", lambda i: "异常扫码" in _text(i))
    assert "SKU与订单不符" in _text(ticket) or "校验码不符" in _text(ticket)
    after = await page.get("/sandbox/packages")
    assert order not in {p["order_no"] for p in after["waiting"]}
    assert after["scanned"][0]["order_no"] == order and after["scanned"][0]["by"] == "zhangsan"
    async with page.db.read() as s:
        inbox = (
            (
                await s.execute(
                    select(InboundEvent.payload).where(
                        InboundEvent.source == "sandbox", InboundEvent.key.like("scan:%")
                    )
                )
            )
            .scalars()
            .all()
        )
        scanned = (
            await s.execute(
                select(Package.station).where(Package.scanned_by == "zhangsan", Package.station == listing["station"])
            )
        ).all()
    assert all(p["raw"].startswith("QR_CODE,OB1|") and p["kind"] == "scan" for p in inbox) and len(inbox) == 4
    assert len(scanned) == 1


async def test_the_page_answers_while_a_day_is_fast_forwarded(page):
    from orderbot.sandbox.routes import SANDBOX

    box = page.client.server.app[SANDBOX]
    before = page.clock()
    jumping = asyncio.create_task(page.post("/sandbox/clock", {"jump": "day"}))
    while not box.jump_lock.locked():  # the jump has started
        await asyncio.sleep(0.005)
    state = await page.get("/sandbox/state")  # the page's reads are served between the jump's statements
    feed = await page.get("/sandbox/feed?after=0")
    assert not jumping.done(), "the reads should have been answered while the jump was still running"
    assert state["clock"]["adjustable"] and isinstance(feed["items"], list)
    second = asyncio.create_task(page.post("/sandbox/clock", {"jump": "hour"}))  # waits for the first, then runs
    first, then = await jumping, await second
    assert page.clock() - before >= timedelta(days=1, hours=1)
    assert first["ran"][0]["job"] == "rules" and then["clock"]["now"] > first["clock"]["now"]


async def test_fast_forward_to_the_morning_sends_the_daily_report_and_alerts(page):
    before = page.clock()
    answer = await page.post("/sandbox/clock", {"jump": "morning"})
    jobs = [r["job"] for r in answer["ran"]]
    assert jobs[0] == "rules" and {"daily_report", "my_customers"} <= set(jobs)
    assert all(r["outcome"] == "ok" for r in answer["ran"]), answer["ran"]
    assert not [r["name"] for r in answer["ran"] if r["name"].isascii()], answer[
        "ran"
    ]  # the toast names jobs in Chinese
    now = page.clock().astimezone(ZONE)
    assert (now.hour, now.minute) == (9, 6) and page.clock() > before and answer["clock"]["ahead"].startswith("已快进")
    start = page.seen
    report = await page.bot_says("group:management", lambda i: "日报" in (i["reply"]["title"] or ""), after=start)
    assert report["reply"]["charts"]
    # Which group the morning's alerts reach depends on the demo company's day (the seed and the living company
    # follow the wall clock): take the first alert card in any group. 孙丽 (management) sits in every group and
    # may acknowledge every rule.
    digest = await page.bot_says_in_any_group(
        lambda i: any(b["text"] in ("全部知道了", "知道了") for b in (i["reply"]["card"] or {}).get("buttons", ())),
        after=start,
    )
    conv, buttons = digest["conv"], digest["reply"]["card"]["buttons"]
    assert [b["text"] for b in buttons].count("全部知道了") <= 1  # one per chat per evaluation
    ack = next(b for b in buttons if b["text"] in ("全部知道了", "知道了"))  # a digest, or one alert's card
    await page.click("sunli", conv, ack)
    # The living company may already have resolved that alert in the same jump (documents completed): then the
    # button says so instead of acknowledging. Either answer comes from 孙丽's press, in the same group.
    done = await page.bot_says(
        conv,
        lambda i: "已确认" in (i["reply"]["text"] or "") or "已经确认或已恢复" in (i["reply"]["text"] or ""),
        after=digest["id"],
    )
    assert done["reply"]["text"].startswith("孙丽 已确认") or "已恢复" in done["reply"]["text"]
    cockpit = await page.get("/sandbox/cockpit")
    assert (cockpit["acknowledged"] > 0 or "已恢复" in done["reply"]["text"]) and cockpit["stages"][0][
        "name"
    ] == "支付网关"
    assert len(cockpit["delays"]) <= 5
    saved = json.loads((page.clock.state).read_text())
    assert saved["offset_seconds"] > 0


async def test_red_weather_pauses_the_courier_batch_until_resumed(page):
    assert (await page.post("/sandbox/weather", {"alert": True}))["weather"]["alert"] == "暴雪红色预警"
    answer = await page.post("/sandbox/clock", {"jump": "courier"})
    assert "courier" in [r["job"] for r in answer["ran"]]
    paused = (await page.get("/sandbox/cockpit"))["paused"]
    assert {"深圳", "义乌", "广州"} <= {p["warehouse"] for p in paused}
    card = await page.bot_says("group:warehouse", lambda i: "深圳仓发运已暂停" in _text(i))
    (resume,) = card["reply"]["card"]["buttons"]
    assert resume["text"] == "恢复发运"
    await page.click("zhangsan", "group:warehouse", resume)  # not a logistics person: politely refused
    refusal = await page.bot_says("group:warehouse", lambda i: not i["reply"]["card"])
    assert refusal["reply"]["text"] == "「恢复发运」需要物流或管理权限，你的角色暂时不能操作。"
    assert "深圳" in {p["warehouse"] for p in (await page.get("/sandbox/cockpit"))["paused"]}
    await page.click("wujun", "group:warehouse", resume)
    await page.bot_says("group:warehouse", lambda i: "恢复" in _text(i) and "深圳" in _text(i))
    for _ in range(50):
        if "深圳" not in {p["warehouse"] for p in (await page.get("/sandbox/cockpit"))["paused"]}:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("深圳 still paused after 恢复发运")
    assert (await page.post("/sandbox/weather", {"alert": False}))["weather"]["alert"] is None


async def test_sandbox_routes_exist_only_in_the_demo(parser, tmp_path, sqlite_template):
    shutil.copy(sqlite_template, tmp_path / "t.db")
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    app = create_app(load_settings(env_file=None), config=_config(), db=db, parser=parser)
    async with TestClient(TestServer(app)) as client:
        for path in ("/", "/sandbox/state", "/sandbox/feed"):
            assert (await client.get(path)).status == 404
        assert (await client.post("/sandbox/message", data="{}")).status in (404, 405)
    await db.dispose()


# --- the demo clock -------------------------------------------------------------------------------------------
def test_offset_clock_moves_forward_only_and_remembers(tmp_path):
    wall = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)
    state = tmp_path / "clock.json"
    clock = OffsetClock(state=state, wall=lambda: wall)
    before, after = clock.advance(timedelta(hours=1))
    assert (before, after) == (wall, wall + timedelta(hours=1)) and clock() == after
    with pytest.raises(ValueError, match="往前"):
        clock.advance(timedelta(0))
    with pytest.raises(ValueError, match="最多"):
        clock.advance(MAX_JUMP + timedelta(seconds=1))
    with pytest.raises(ValueError):
        clock.jump_to(wall)  # the past
    again = OffsetClock(state=state, wall=lambda: wall)
    assert again() == wall + timedelta(hours=1)
    state.write_text("not json")
    assert OffsetClock(state=state, wall=lambda: wall)() == wall


def test_due_jobs_are_the_ones_a_jump_skipped():
    async def job(now):
        return None

    specs = [
        JobSpec("rules", every(minutes=5), job),
        JobSpec("courier", daily("10:00", "16:00"), job),
        JobSpec("daily_report", daily("09:00"), job),
        JobSpec("tracking_stale", every(minutes=60), job),
    ]
    at = datetime(2026, 2, 10, 8, 30, tzinfo=ZONE)
    assert due_jobs(specs, ZONE, at, at + timedelta(minutes=20)) == ["rules"]
    assert due_jobs(specs, ZONE, at, at + timedelta(hours=1)) == ["rules", "daily_report", "tracking_stale"]
    assert due_jobs(specs, ZONE, at, at + timedelta(days=1)) == ["rules", "daily_report", "courier", "tracking_stale"]
    assert next_local(at, ZONE, ["10:00", "16:00"]) == datetime(2026, 2, 10, 10, 0, tzinfo=ZONE)
    # One step of a longer jump: the rules wait for a daily job, `RULES_EVERY` of demo time, or the jump's end.
    step = timedelta(hours=3)
    night = datetime(2026, 2, 10, 0, 0, tzinfo=ZONE)
    assert step_jobs(specs, ZONE, night, night + step, rules_at=night, last=False) == ["tracking_stale"]
    assert step_jobs(specs, ZONE, night, night + step, rules_at=night, last=True) == ["rules", "tracking_stale"]
    assert step_jobs(specs, ZONE, night, night + step, rules_at=night + step - RULES_EVERY, last=False) == [
        "rules",
        "tracking_stale",
    ]
    hour = timedelta(hours=1)
    assert step_jobs(specs, ZONE, at, at + hour, rules_at=at, last=False) == ["rules", "daily_report", "tracking_stale"]
    assert next_local(at, ZONE, ["08:00"]) == datetime(2026, 2, 11, 8, 0, tzinfo=ZONE)
