"""Scan-to-ship through real encrypted WeCom callbacks to the running app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, UTC

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import func, select, update
from wechatpy.enterprise.crypto import WeChatCrypto

from orderbot.app import create_app
from orderbot.core.models import Order, OutboxMessage, Package, Scan, Task
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import get_order, hold_customs, ingest_order, set_channel_frozen
from orderbot.core.stock import ledger
from orderbot.core.warehouse.labels import label_text
from orderbot.core.warehouse.scanning import FAILURE_REPLY
from orderbot.settings import load_settings
from orderbot.messaging.senders.sandbox import SandboxSender
from orderbot.webhooks.wecom import seal
from orderbot.webhooks.wecom_xml import fields, parse_xml

from tests.helpers import add_products, order_json, wecom_settings

TOKEN, AES_KEY, CORP, SECRET = "scantoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wwscan", "label-secret"
NOW = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


@pytest.fixture
def parser(static_parser):
    return static_parser


class Scanner:
    """A WeCom client: encrypts scancode_waitmsg events, posts them, decrypts the passive reply."""

    def __init__(self, client):
        self.client, self.crypto, self.n = client, WeChatCrypto(TOKEN, AES_KEY, CORP), 0

    async def post(self, plain: str):
        self.n += 1
        params, body = seal(self.crypto, TOKEN, CORP, plain, nonce=f"n{self.n}", timestamp=str(1770000000 + self.n))
        return await self.client.post("/wecom/callback", data=body, params=params)

    async def scan(self, text: str, user: str = "ZhangSan", station: str = "pack-1") -> str:
        self.n += 1
        plain = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{1770000000 + self.n}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[scancode_waitmsg]]></Event><EventKey><![CDATA[{station}]]></EventKey>"
            f"<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[QR_CODE,{text}]]>"
            f"</ScanResult></ScanCodeInfo><AgentID>1</AgentID></xml>"
        )
        resp = await self.post(plain)
        assert resp.status == 200
        envelope = fields(parse_xml(await resp.text()))
        answer = self.crypto.decrypt_message(
            {"Encrypt": envelope["Encrypt"]}, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
        )
        return fields(parse_xml(answer))["Content"]

    async def say(self, text: str, user: str = "ZhangSan"):
        self.n += 1
        plain = (
            f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>{user}</FromUserName><CreateTime>"
            f"{1770000000 + self.n}</CreateTime><MsgType>text</MsgType><Content><![CDATA[{text}]]></Content>"
            f"<MsgId>t{self.n}</MsgId><AgentID>1</AgentID></xml>"
        )
        assert (await self.post(plain)).status == 200
        from orderbot.webhooks.wecom import WECOM

        await self.client.app[WECOM].background.drain(timeout=10)
        await self.client.app[WECOM].pipeline.drain(timeout=10)


def scanning_app(settings, db, config, clock, parser):
    """The app behind a WeCom scanner; the sandbox stands in for the staff's and customers' chat (outside the demo
    there is no sandbox channel)."""
    senders = {"sandbox": SandboxSender(clock)}
    return create_app(settings, config=config, db=db, clock=clock, run_worker=False, parser=parser, senders=senders)


@pytest.fixture
async def station(db, config, parser, snapshots):
    from orderbot.core.staff import sync_staff

    async def build() -> None:
        async with db.write() as s:
            await sync_staff(s, config)
            await add_products(s, config, stock=50, at=NOW)
            for no, lines in (
                ("SO202602100001", [{"sku": "EB-TWS-WHT", "qty": 2}]),
                ("SO202602100002", [{"sku": "PB-20K-BLK", "qty": 1}, {"sku": "CASE-IP15-CLR", "qty": 3}]),
                ("SO202602100003", [{"sku": "CASE-IP15-CLR", "qty": 1}]),
            ):
                await ingest_order(s, parse_order(order_json(no, lines=lines)), source="test", config=config, now=NOW)

    await snapshots.seed(db, "scanning", build)
    clock = lambda: NOW  # noqa: E731
    settings = wecom_settings(TOKEN, AES_KEY, CORP, ORDERBOT_LABEL_SECRET=SECRET)
    async with TestClient(TestServer(scanning_app(settings, db, config, clock, parser))) as client:
        yield Scanner(client), db


def _tamper(text: str) -> str:
    """The same label with its last check digit changed."""
    return text[:-1] + ("1" if text[-1] != "1" else "2")


def label(order_no: str, sku: str, k: int, batch: str = "B260201") -> str:
    return label_text(SECRET, order_no, sku, batch, k)


async def _count(db, model, *where) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar()


async def test_good_scan_ships_moves_stock_warns_and_notifies_customer(station):
    scanner, db = station
    answer = await scanner.scan(label("SO202602100001", "EB-TWS-WHT", 1))
    # no waybill yet: the customer hears with the tracking number once the courier batch issues it
    assert answer.startswith(
        "✅ 出库成功 SO202602100001 包裹 1/1 · EB-TWS-WHT\n整单已发出，生成运单号后（快递交接批次）通知客户"
    )
    assert "⚠️ 含锂电池，需更换UN3481专用箱（PI 967，贴锂电池标记 UN3481）" in answer
    assert "⚠️ 报关资料未齐" in answer  # grade B order with its 报关资料待补 task still open
    async with db.read() as s:
        order = await get_order(s, "SO202602100001")
        assert order.status == "shipped" and order.shipped_at == NOW and order.stage == "routing"
        lv = await ledger.levels(s, "EB-TWS-WHT")
        assert (lv.on_hand, lv.reserved) == (48, 0)
        assert await ledger.ledger_totals(s, "EB-TWS-WHT") == (48, 0)
        notice = (await s.execute(select(OutboxMessage).where(OutboxMessage.destination == "customer:C0001"))).scalar()
        assert notice is None
        package = (await s.execute(select(Package).where(Package.order_id == order.id))).scalar_one()
        assert (package.scanned_by, package.station) == ("zhangsan", "pack-1")


async def test_an_order_with_a_waybill_tells_the_customer_its_tracking_number_at_the_scan(station, config):
    scanner, db = station
    async with db.write() as s:
        await ingest_order(
            s,
            parse_order(
                order_json("SO202602100007", tracking_no="YT123456789CN", lines=[{"sku": "CASE-IP15-CLR", "qty": 1}])
            ),
            source="test",
            config=config,
            now=NOW,
        )
    answer = await scanner.scan(label("SO202602100007", "CASE-IP15-CLR", 1))
    assert answer.startswith("✅ 出库成功 SO202602100007 包裹 1/1 · CASE-IP15-CLR\n整单已发出，已通知客户")
    async with db.read() as s:
        (notice,) = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == "ship:SO202602100007")))
            .scalars()
            .all()
        )
    assert notice.destination == "customer:C0001" and "已发出|单号:YT123456789CN" in notice.payload["text"]


async def test_last_package_ships_the_order_and_a_repeat_moves_nothing(station):
    scanner, db = station
    first = await scanner.scan(label("SO202602100002", "PB-20K-BLK", 1))
    assert first.startswith("✅ 出库成功 SO202602100002 包裹 1/2") and "整单已发出" not in first
    assert "移动电源（锂离子电池单独运输），需更换UN3480专用箱" in first
    async with db.read() as s:
        order = await get_order(s, "SO202602100002")
        assert (order.status, order.stage) == ("paid", "packing")
    again = await scanner.scan(label("SO202602100002", "PB-20K-BLK", 1), user="ZhaoQiang")
    assert again == "已于 10:00 由 张三 扫描，无需重复出库"
    second = await scanner.scan(label("SO202602100002", "CASE-IP15-CLR", 2))
    assert "整单已发出" in second
    async with db.read() as s:
        assert (await get_order(s, "SO202602100002")).status == "shipped"
        assert (await ledger.levels(s, "PB-20K-BLK")).on_hand == 49
    assert await _count(db, Scan, Scan.outcome == "repeat") == 1


@pytest.mark.parametrize(
    "make,outcome",
    [
        (lambda: "这不是标签", "unreadable"),
        (lambda: _tamper(label("SO202602100003", "CASE-IP15-CLR", 1)), "bad_check"),
        (lambda: label("SO209901010001", "CASE-IP15-CLR", 1), "unknown_order"),
        (lambda: label("SO202602100003", "CASE-IP15-CLR", 2), "wrong_package"),
        (lambda: label("SO202602100003", "PB-20K-BLK", 1), "wrong_sku"),
        (lambda: label("SO202602100003", "CASE-IP15-CLR", 1, batch="B251231"), "wrong_batch"),
    ],
)
async def test_failures_never_blame_the_packer_and_open_a_ticket(station, make, outcome):
    scanner, db = station
    raw = make()
    assert await scanner.scan(raw) == FAILURE_REPLY
    async with db.read() as s:
        scan = (await s.execute(select(Scan))).scalar_one()
        task = (await s.execute(select(Task).where(Task.type == "scan_exception"))).scalar_one()
        lead_msg = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.destination == "user:zhaoqiang"))
        ).scalar_one()
        assert (await ledger.levels(s, "CASE-IP15-CLR")).reserved == 4  # nothing moved
    assert scan.outcome == outcome and scan.staff_id == "zhangsan"
    assert task.assignee == "zhaoqiang" and "异常扫码" in task.subject
    assert lead_msg.payload["title"] == "异常扫码工单" and lead_msg.payload["digest_key"] == "scan_exception"
    async with db.read() as s:  # 仓库群 receives "scan_exception" in the business config, and now gets it
        group_msg = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.destination == "group:warehouse"))
        ).scalar_one()
    assert group_msg.payload["title"] == "异常扫码工单" and raw[:40] in group_msg.payload["text"]
    assert group_msg.dedupe_key == f"scan_exception:{scan.id}:warehouse"


async def test_cancelled_held_and_frozen_orders_are_refused(station, config):
    scanner, db = station
    async with db.write() as s:
        held = await get_order(s, "SO202602100003")
        await hold_customs(s, held, actor="chenjing", roles={"customs"}, reason="查验", now=NOW)
        await set_channel_frozen(s, "tiktok", True, actor="heping", reason="取消率", now=NOW)
        await ingest_order(
            s,
            parse_order(order_json("SO202602100009", channel="tiktok", lines=[{"sku": "CASE-IP15-CLR", "qty": 1}])),
            source="test",
            config=config,
            now=NOW,
        )
        await s.execute(update(Order).where(Order.order_no == "SO202602100001").values(status="cancelled"))
    for raw in (label("SO202602100003", "CASE-IP15-CLR", 1), label("SO202602100001", "EB-TWS-WHT", 1)):
        assert await scanner.scan(raw) == FAILURE_REPLY
    async with db.read() as s:
        outcomes = [o for (o,) in await s.execute(select(Scan.outcome).order_by(Scan.id))]
    assert outcomes == ["customs_hold", "cancelled"]
    async with db.read() as s:  # the frozen channel's order never got packages: nothing to scan
        frozen = await get_order(s, "SO202602100009")
        assert frozen.review_hold


async def test_three_failures_in_a_row_send_the_lead_a_heatmap_once(station):
    scanner, db = station
    for k in range(4):
        assert (
            await scanner.scan(label("SO202602100003", "CASE-IP15-CLR", 1, batch=f"B2512{k:02d}"), station="pack-7")
            == FAILURE_REPLY
        )
    async with db.read() as s:
        hints = (
            (
                await s.execute(
                    select(OutboxMessage).where(OutboxMessage.payload["title"].as_string() == "疑似批次标签打印偏移")
                )
            )
            .scalars()
            .all()
        )
    assert len(hints) == 1
    (hint,) = hints
    assert "pack-7连续3次扫码失败，疑似批次标签打印偏移" in hint.payload["text"]
    from orderbot.messaging.reply import Reply
    from orderbot.messaging.worker import load_images

    assert set(hint.payload["charts"][0]) == {"title", "media"}  # the row holds a reference, the image is stored
    png = Reply.from_dict(await load_images(db, hint.payload, NOW)).charts[0].png
    assert Image.open(io.BytesIO(png)).width == 1080


async def test_unbound_scanner_is_refused_politely_and_reported(station):
    scanner, db = station
    answer = await scanner.scan(label("SO202602100003", "CASE-IP15-CLR", 1), user="SomeoneNew")
    assert answer == "这个扫码账号还没有绑定员工，已通知值班组长，请绑定后再扫。"
    async with db.read() as s:
        scan = (await s.execute(select(Scan))).scalar_one()
        assert (scan.outcome, scan.staff_id, scan.platform_user) == ("unbound", None, "SomeoneNew")
        assert (await get_order(s, "SO202602100003")).status == "paid"


async def test_waybill_gate_in_chat_and_figures_with_a_correction(station):
    scanner, db = station
    await scanner.say("申请面单 SO202602100002", user="ZhaoQiang")
    assert await scanner.scan(label("SO202602100002", "PB-20K-BLK", 2)) == FAILURE_REPLY  # wrong label
    await scanner.scan(label("SO202602100002", "PB-20K-BLK", 1))
    await scanner.scan(label("SO202602100002", "CASE-IP15-CLR", 2))  # the fix: a correction
    await scanner.say("申请面单 SO202602100002", user="ZhaoQiang")
    await scanner.say("我今天的扫码准确率")
    async with db.read() as s:
        replies = [
            r.payload["text"]
            for r in (
                await s.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.destination == "user:ZhaoQiang")
                    .order_by(OutboxMessage.id)
                )
            ).scalars()
        ]
    assert replies[0] == "SO202602100002 还有未扫码的包裹（包裹 1/2、包裹 2/2），不能生成面单"
    assert replies[1] == "SO202602100002 的包裹已全部扫码出库，可以申请面单。"
    async with db.read() as s:
        stats = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.payload["title"].as_string().like("扫码统计%")))
        ).scalar_one()
    row = stats.payload["table"]["rows"][0]
    assert row[:3] == ["张三", "3", "1"] and row[3].startswith("66.7%（低于行业87%）") and row[4].startswith("1（")


async def test_two_packers_scanning_the_same_sku_at_once_lose_nothing(station, config):
    scanner, db = station
    async with db.write() as s:
        for i in range(6):
            await ingest_order(
                s,
                parse_order(order_json(f"SO20260210100{i}", lines=[{"sku": "CASE-IP15-CLR", "qty": 2}])),
                source="test",
                config=config,
                now=NOW,
            )
        before = await ledger.levels(s, "CASE-IP15-CLR")
    answers = await asyncio.gather(
        *(
            scanner.scan(label(f"SO20260210100{i}", "CASE-IP15-CLR", 1), user="ZhangSan" if i % 2 else "ZhaoQiang")
            for i in range(6)
        )
    )
    assert all(a.startswith("✅ 出库成功") for a in answers)
    async with db.read() as s:
        after = await ledger.levels(s, "CASE-IP15-CLR")
        assert (before.on_hand - after.on_hand, before.reserved - after.reserved) == (12, 12)
        assert await ledger.ledger_totals(s, "CASE-IP15-CLR") == (after.on_hand, after.reserved)
    assert await _count(db, Scan, Scan.outcome == "ok") == 6


async def test_waybill_api_for_the_carrier_batch(db, config, clock):
    import hashlib
    import hmac
    import json

    from tests.helpers import no_reply

    settings = load_settings(env_file=None, ORDERBOT_INGEST_SECRET="ingest")
    async with db.write() as s:
        await add_products(s, config, stock=50, at=NOW)
        await ingest_order(
            s,
            parse_order(order_json("SO202602100001", lines=[{"sku": "CASE-IP15-CLR", "qty": 1}])),
            source="test",
            config=config,
            now=NOW,
        )
    app = create_app(settings, config=config, db=db, clock=clock, handler=no_reply, run_worker=False)

    def signed(data: dict) -> tuple[bytes, dict]:
        raw = json.dumps(data).encode()
        return raw, {"X-Orderbot-Signature": "sha256=" + hmac.new(b"ingest", raw, hashlib.sha256).hexdigest()}

    async with TestClient(TestServer(app)) as client:
        raw, headers = signed({"order_no": "SO202602100001"})
        refused = await client.post("/api/waybill", data=raw, headers=headers)
        assert refused.status == 409 and (await refused.json())["unscanned"] == [1]
        async with db.write() as s:
            await s.execute(update(Package).values(scanned_at=NOW, scanned_by="zhangsan"))
        ok = await client.post("/api/waybill", data=raw, headers=headers)
        assert ok.status == 200 and (await ok.json())["packages_scanned"] is True
        raw, headers = signed({"order_no": "SO209901010001"})
        assert (await client.post("/api/waybill", data=raw, headers=headers)).status == 404
        assert (
            await client.post("/api/waybill", data=raw, headers={"X-Orderbot-Signature": "sha256=00"})
        ).status == 401


async def test_duty_lead_changed_in_chat(station, config):
    scanner, db = station
    await scanner.say("今天值班组长改为赵强", user="ZhaoQiang")
    await scanner.say("1", user="ZhaoQiang")  # a typed change waits for its asker's 确认
    await scanner.say("今天值班组长改为张三", user="ZhaoQiang")
    await scanner.say("今天值班组长改为赵强", user="ZhangSan")
    async with db.read() as s:
        texts = [
            r.payload["text"] for r in (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        ]
        from orderbot.core.warehouse.scanning import lead_on_duty

        assert await lead_on_duty(s, config, NOW.date()) == "zhaoqiang"
    assert texts[0].startswith("将把今天（2月10日）的值班组长改为 赵强") and "回复 1 确认" in texts[0]
    assert texts[1] == "今天的值班组长已改为 赵强，之后的异常扫码工单都会派给 TA。"
    assert texts[2].startswith("没找到叫「张三」的值班组长")  # said at once, nothing to confirm
    assert "值班组长" in texts[3] and "权限" in texts[3]


# --- issue 13: who may ship, and strangers ----------------------------------------------------------------


async def test_finance_cannot_ship_by_scanning(station):
    """Item 12: scanning needs a role from [warehouse] scan_roles; a refused scan ships and records nothing."""
    scanner, db = station
    answer = await scanner.scan(label("SO202602100001", "EB-TWS-WHT", 1), user="QianFang")  # finance
    assert answer.startswith("你的角色不能扫码出库") and "warehouse" in answer
    async with db.read() as s:
        assert (await get_order(s, "SO202602100001")).status == "paid"
    assert await _count(db, Package, Package.scanned_at.is_not(None)) == 0
    assert await _count(db, Scan) == 0


async def test_scan_roles_can_be_widened_in_config(db, config, parser):
    widened = config.model_copy(
        update={"warehouse": config.warehouse.model_copy(update={"scan_roles": ["warehouse", "finance"]})}
    )
    from orderbot.core.staff import sync_staff

    async with db.write() as s:
        await sync_staff(s, widened)
        await add_products(s, widened, stock=5, at=NOW)
        await ingest_order(
            s,
            parse_order(order_json("SO202602100001", lines=[{"sku": "EB-TWS-WHT", "qty": 1}])),
            source="test",
            config=widened,
            now=NOW,
        )
    settings = wecom_settings(TOKEN, AES_KEY, CORP, ORDERBOT_LABEL_SECRET=SECRET)
    app = create_app(settings, config=widened, db=db, clock=lambda: NOW, run_worker=False, parser=parser)
    async with TestClient(TestServer(app)) as client:
        answer = await Scanner(client).scan(label("SO202602100001", "EB-TWS-WHT", 1), user="QianFang")
    assert answer.startswith("✅ 出库成功 SO202602100001")


async def test_thirty_stranger_scans_are_one_ticket(station):
    """Item 11: 30 junk scans by someone outside the directory page the lead once, not 30 times."""
    scanner, db = station
    for i in range(30):
        answer = await scanner.scan(f"junk-{i}", user="Stranger1", station=f"pack-{i % 3}")
        assert answer == "这个扫码账号还没有绑定员工，已通知值班组长，请绑定后再扫。"
    await scanner.scan("junk-x", user="Stranger2")
    assert await _count(db, Scan) == 31  # every scan is still on record
    async with db.read() as s:
        tickets = (await s.execute(select(Task.subject).where(Task.type == "scan_exception"))).scalars().all()
        notices = (await s.execute(select(OutboxMessage.payload))).scalars().all()
    assert len(tickets) == 2 and any("Stranger1" in t for t in tickets) and any("Stranger2" in t for t in tickets)
    # once per stranger to the lead on duty and once to 仓库群 (the group receiving scan_exception)
    assert sum(1 for p in notices if p.get("title") == "异常扫码工单") == 4


async def test_a_strangers_messages_get_a_few_answers_then_silence(station):
    scanner, db = station
    for i in range(10):
        await scanner.say(f"你好{i}", user="Stranger3")
    async with db.read() as s:
        replies = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.destination == "user:Stranger3")))
            .scalars()
            .all()
        )
    assert len(replies) == 3 and all("员工名录" in r.payload["text"] for r in replies)
