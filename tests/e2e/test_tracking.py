"""Carrier tracking pushes over real HTTP: signatures per provider, parsing, dedupe, orphans, customs clearance,
stage and status moves, ETA, and the rules hook; plus the pure parsers and the status mapping table."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import date, datetime, timedelta, UTC

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from orderbot.app import create_app
from orderbot.core.models import InboundEvent, Order, OrderEvent, Package
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import change_status, get_order, ingest_order
from orderbot.core.tracking import Ignored, effect_of, parse_17track, parse_aftership, parse_generic
from orderbot.settings import load_settings
from orderbot.webhooks.common import METRICS, RULES_HOOK
from orderbot.webhooks.tracking import verify_17track_sign

from tests.conftest import T0
from tests.helpers import add_products, no_reply, order_json

SECRET = "tracking-test-secret"
UPS_NO = "1Z2617V10397725789"  # 17TRACK sample number, on order 1
PKG_NO = "9400111899223397576146"  # on a package of order 2 (AfterShip sample, number adapted)
PAID_NO = "YT2602100000001"  # order 3, paid but never scanned out
SO1, SO2, SO3 = "SO202602100001", "SO202602100002", "SO202602100003"

# Reference §3.2: AfterShip tracking_update, trimmed (tracking_number adapted to a seeded package).
AFTERSHIP_SAMPLE = {
    "event": "tracking_update",
    "event_id": "94dadd60-ed26-46d0-aa52-3ced925a50ff",
    "is_tracking_first_tag": True,
    "msg": {
        "id": "00000000000000000000000000000000",
        "tracking_number": PKG_NO,
        "slug": "usps",
        "tag": "InTransit",
        "subtag": "InTransit_001",
        "subtag_message": "In Transit",
        "title": "0000000000000000",
        "order_number": "string",
        "checkpoints": [
            {
                "checkpoint_time": "2021-01-14T00:52:00",
                "message": "Departed Shipping Partner Facility, USPS Awaiting Item",
                "slug": "usps",
                "tag": "InTransit",
                "subtag": "InTransit_001",
            }
        ],
    },
    "ts": 1712741696,
}
_ADDR = {
    "country": "US",
    "state": "CA",
    "city": "GASQUET",
    "street": None,
    "postal_code": None,
    "coordinates": {"longitude": None, "latitude": None},
}
# Reference §3.1: 17TRACK TRACKING_UPDATED (the reference's trimmed fixture).
SEVENTEEN_SAMPLE = {
    "event": "TRACKING_UPDATED",
    "data": {
        "number": UPS_NO,
        "carrier": 3011,
        "param": None,
        "tag": "",
        "track_info": {
            "shipping_info": {"shipper_address": {**_ADDR, "city": "CITY OF INDUSTRY"}, "recipient_address": _ADDR},
            "latest_status": {"status": "Delivered", "sub_status": "Delivered_Other", "sub_status_descr": None},
            "latest_event": {
                "time_iso": "2022-04-04T16:35:22-07:00",
                "time_utc": "2022-04-04T23:35:22Z",
                "time_raw": {"date": None, "time": None, "timezone": None},
                "description": "DELIVERED",
                "location": "GASQUET, CA, US",
                "stage": None,
                "sub_status": None,
                "address": _ADDR,
            },
            "time_metrics": {
                "days_after_order": 7,
                "days_of_transit": 4,
                "days_of_transit_done": 4,
                "days_after_last_update": 0,
                "estimated_delivery_date": {"source": None, "from": None, "to": None},
            },
            "milestone": [
                {
                    "key_stage": "InfoReceived",
                    "time_iso": "2022-03-28T22:43:08-07:00",
                    "time_utc": "2022-03-29T05:43:08Z",
                },
                {
                    "key_stage": "OutForDelivery",
                    "time_iso": "2022-04-04T08:46:06-07:00",
                    "time_utc": "2022-04-04T15:46:06Z",
                },
                {"key_stage": "Delivered", "time_iso": "2022-04-04T16:35:22-07:00", "time_utc": "2022-04-04T23:35:22Z"},
            ],
            "misc_info": {
                "risk_factor": 0,
                "service_type": "UPS Ground",
                "weight_raw": "49.20LBS",
                "weight_kg": "22.32",
                "local_number": "",
                "local_provider": "",
                "local_key": 0,
            },
            "tracking": {
                "providers_hash": -595601716,
                "providers": [
                    {
                        "provider": {
                            "key": 100002,
                            "name": "UPS",
                            "alias": "UPS",
                            "tel": None,
                            "homepage": "http://www.ups.com/",
                            "country": "",
                        },
                        "provider_lang": None,
                        "service_type": "UPS Ground",
                        "latest_sync_status": "Success",
                        "latest_sync_time": "2022-04-29T08:06:06Z",
                        "events_hash": -925320483,
                        "provider_tips": None,
                        "events": [
                            {
                                "time_iso": "2022-04-04T16:35:22-07:00",
                                "time_utc": "2022-04-04T23:35:22Z",
                                "description": "DELIVERED",
                                "location": "GASQUET, CA, US",
                                "stage": "Delivered",
                                "sub_status": None,
                            },
                            {
                                "time_iso": "2022-03-28T22:43:08-07:00",
                                "time_utc": "2022-03-29T05:43:08Z",
                                "description": "Shipper created a label, UPS has not received the package yet.",
                                "location": "US",
                                "stage": "InfoReceived",
                                "sub_status": None,
                            },
                        ],
                    }
                ],
            },
        },
        "lang": None,
        "destination_postal_code": None,
        "origin_country": None,
        "destination_country": None,
        "destination_city": None,
        "ship_date": None,
        "shipper": None,
        "consignee": None,
        "phone_number_last_4": None,
        "phone_number": None,
        "cpf_or_cnpj": None,
        "special_tracking_info": None,
    },
}


def seventeen(
    sub_status: str, time_utc: str, *, number=UPS_NO, location="LOS ANGELES, CA, US", description="", eta_to=None
) -> dict:
    body = copy.deepcopy(SEVENTEEN_SAMPLE)
    body["data"]["number"] = number
    info = body["data"]["track_info"]
    info["latest_status"].update(status=sub_status.split("_")[0], sub_status=sub_status)
    info["latest_event"].update(time_utc=time_utc, time_iso=time_utc, location=location, description=description)
    info["time_metrics"]["estimated_delivery_date"]["to"] = eta_to
    return body


def aftership(tag: str, subtag: str, checkpoint_time: str, *, event_id: str, message="", **msg) -> dict:
    body = copy.deepcopy(AFTERSHIP_SAMPLE)
    body["event_id"] = event_id
    body["msg"].update(tag=tag, subtag=subtag, **msg)
    body["msg"]["checkpoints"] = [
        {
            "checkpoint_time": checkpoint_time,
            "message": message,
            "tag": tag,
            "subtag": subtag,
            "location": "Los Angeles, CA",
        }
    ]
    return body


def generic(event_id: str, status: str, sub_status: str | None, at: datetime, *, number=UPS_NO, **extra) -> dict:
    body = {"event_id": event_id, "tracking_no": number, "status": status, "at": at.isoformat(), **extra}
    if sub_status is not None:
        body["sub_status"] = sub_status
    return body


def sign(provider: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    if provider == "aftership":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        return {"aftership-hmac-sha256": base64.b64encode(digest).decode()}
    if provider == "17track":
        return {"sign": hashlib.sha256((body.decode("utf-8") + "/" + secret).encode("utf-8")).hexdigest()}
    return {"X-Orderbot-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


async def post(client, provider: str, data, *, headers=None, secret: str = SECRET):
    body = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
    h = {"Content-Type": "application/json", **sign(provider, body, secret)}
    if headers is not None:
        h = {"Content-Type": "application/json", **headers}
    return await client.post(f"/webhooks/tracking/{provider}", data=body, headers=h)


async def seed(db, config, clock) -> None:
    """Order 1 shipped (own tracking number), order 2 shipped (number on its package), order 3 only paid."""
    async with db.write() as s:
        await add_products(s, config, at=clock())
        for no, number in ((SO1, UPS_NO), (SO2, None), (SO3, PAID_NO)):
            await ingest_order(
                s,
                parse_order(order_json(no, channel_order_id=f"#{no[-4:]}", tracking_no=number)),
                source="test",
                config=config,
                now=clock(),
            )
        for no in (SO1, SO2):
            await change_status(s, await get_order(s, no), "shipped", now=clock(), source="scan")
        order2 = await get_order(s, SO2)
        await s.execute(update(Package).where(Package.order_id == order2.id).values(tracking_no=PKG_NO))


@pytest.fixture
def hook_calls() -> list[str]:
    return []


@pytest.fixture
async def client(db, config, clock, hook_calls, snapshots):
    await snapshots.seed(db, "tracking", lambda: seed(db, config, clock))
    settings = load_settings(env_file=None, TRACKING_WEBHOOK_SECRET=SECRET, ORDERBOT_MAX_BODY_BYTES=65536)
    app = create_app(settings, config=config, db=db, clock=clock, handler=no_reply, run_worker=False)

    async def record(topic: str) -> None:
        hook_calls.append(topic)

    app[RULES_HOOK] = record
    async with TestClient(TestServer(app)) as c:
        yield c


async def order_of(db, no: str) -> Order:
    async with db.read() as s:
        return await get_order(s, no)


async def events_of(db, no: str, since_id: int = 0) -> list[tuple[str, str, str, str, str]]:
    """(kind, source, stage, status, detail) of the order's timeline events after `since_id`."""
    async with db.read() as s:
        order = await get_order(s, no)
        rows = await s.execute(
            select(OrderEvent.kind, OrderEvent.source, OrderEvent.stage, OrderEvent.status, OrderEvent.detail)
            .where(OrderEvent.order_id == order.id, OrderEvent.id > since_id)
            .order_by(OrderEvent.id)
        )
        return [tuple(r) for r in rows]


async def last_event_id(db) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.coalesce(func.max(OrderEvent.id), 0)))).scalar()


async def inbound(db) -> list[tuple[str, str, str]]:
    async with db.read() as s:
        rows = await s.execute(
            select(InboundEvent.source, InboundEvent.key, InboundEvent.state)
            .where(InboundEvent.source.like("tracking:%"))
            .order_by(InboundEvent.id)
        )
        return [tuple(r) for r in rows]


def metrics(client) -> dict[tuple[str, str], float]:
    """Inbound events counted by (source, outcome), read from the app's Prometheus counter."""
    (family,) = client.server.app[METRICS].inbound_events.collect()
    return {(s.labels["source"], s.labels["outcome"]): s.value for s in family.samples if s.name.endswith("_total")}


# ---- the reference samples, end to end -------------------------------------------------------------------


async def test_aftership_sample_updates_order_found_by_package_number(client, db, hook_calls):
    before = await last_event_id(db)
    resp = await post(client, "aftership", AFTERSHIP_SAMPLE)
    assert resp.status == 200
    assert await resp.json() == {
        "ok": True,
        "matched": True,
        "order_no": SO2,
        "tracking_status": "InTransit_Other",
        "stale": False,
    }
    order = await order_of(db, SO2)
    # checkpoint_time has no offset, so the signed `ts` of the push is the event time.
    assert order.tracking_status == "InTransit_Other"
    assert order.tracking_at == datetime.fromtimestamp(1712741696, UTC)
    assert (order.status, order.stage, order.customs_state) == ("shipped", "routing", None)
    assert await events_of(db, SO2, before) == [("tracking", "aftership", "routing", "shipped", "运输中")]
    assert await inbound(db) == [("tracking:aftership", AFTERSHIP_SAMPLE["event_id"], "done")]
    assert hook_calls == ["tracking"]
    assert metrics(client)[("tracking:aftership", "updated")] == 1


async def test_17track_sample_delivers_the_order(client, db, hook_calls):
    before = await last_event_id(db)
    resp = await post(client, "17track", SEVENTEEN_SAMPLE)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["tracking_status"] == "Delivered_Other"
    order = await order_of(db, SO1)
    delivered = datetime(2022, 4, 4, 23, 35, 22, tzinfo=UTC)
    assert (order.status, order.stage) == ("delivered", "delivered")
    assert order.delivered_at == delivered and order.tracking_at == delivered
    assert order.stage_since == delivered and order.updated_at == T0
    assert await events_of(db, SO1, before) == [
        ("tracking", "17track", "routing", "shipped", "已签收 · GASQUET, CA, US"),
        ("status", "17track", "delivered", "delivered", "已发货 → 已签收（承运商签收）"),
    ]
    assert await inbound(db) == [("tracking:17track", f"{UPS_NO}|2022-04-04T23:35:22Z|Delivered_Other", "done")]
    assert hook_calls == ["tracking"]


# ---- signatures and the door ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "provider, data",
    [
        ("aftership", AFTERSHIP_SAMPLE),
        ("17track", SEVENTEEN_SAMPLE),
        ("generic", generic("g-1", "InTransit", None, T0)),
    ],
)
async def test_wrong_or_missing_signature_is_401_and_stores_nothing(client, db, hook_calls, provider, data):
    body = json.dumps(data).encode()
    header = next(iter(sign(provider, body)))
    before = await last_event_id(db)
    bad = [sign(provider, body, "wrong-secret"), {header: ""}, {header: "sha256=" + "0" * 64}, {}]
    for headers in bad:
        resp = await post(client, provider, body, headers=headers)
        assert resp.status == 401, headers
        assert (await resp.json())["error"] == "签名错误"
    # A signature over another body does not carry over.
    resp = await post(client, provider, body, headers=sign(provider, body + b" "))
    assert resp.status == 401
    assert await inbound(db) == [] and await last_event_id(db) == before
    assert (await order_of(db, SO1)).tracking_status is None and (await order_of(db, SO2)).tracking_status is None
    assert hook_calls == []
    assert metrics(client)[(f"tracking:{provider}", "bad_signature")] == 5


@pytest.mark.parametrize("provider", ["aftership", "17track", "generic"])
async def test_missing_secret_closes_the_door(db, config, clock, provider):
    app = create_app(
        load_settings(env_file=None), config=config, db=db, clock=clock, handler=no_reply, run_worker=False
    )
    async with TestClient(TestServer(app)) as c:
        resp = await post(c, provider, generic("g-1", "InTransit", None, T0))
        assert resp.status == 503
        assert "TRACKING_WEBHOOK_SECRET" in (await resp.json())["error"]
    assert await inbound(db) == []


async def test_unknown_provider_is_404(client, db):
    resp = await post(client, "cainiao", generic("g-1", "InTransit", None, T0))
    assert resp.status == 404
    assert "cainiao" in (await resp.json())["error"]
    assert await inbound(db) == []


@pytest.mark.parametrize("provider", ["aftership", "17track", "generic"])
@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2", b""])
async def test_malformed_json_is_400(client, db, provider, raw):
    resp = await post(client, provider, raw)
    assert resp.status == 400
    assert "JSON" in (await resp.json())["error"]
    assert await inbound(db) == []
    assert metrics(client)[(f"tracking:{provider}", "invalid")] == 1


def _without(data: dict, *path: str) -> dict:
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return data


@pytest.mark.parametrize(
    "provider, data, reason",
    [
        ("aftership", _without(AFTERSHIP_SAMPLE, "event_id"), "缺少 event_id"),
        ("aftership", _without(AFTERSHIP_SAMPLE, "msg", "tracking_number"), "缺少 msg.tracking_number"),
        ("aftership", {**AFTERSHIP_SAMPLE, "msg": "oops"}, "msg 应为JSON对象"),
        ("17track", _without(SEVENTEEN_SAMPLE, "data", "number"), "缺少 data.number"),
        (
            "17track",
            _without(SEVENTEEN_SAMPLE, "data", "track_info", "latest_status"),
            "data.track_info.latest_status 应为JSON对象",
        ),
        ("17track", [SEVENTEEN_SAMPLE], "17TRACK 推送 应为JSON对象"),
        ("generic", _without(generic("g-1", "InTransit", None, T0), "tracking_no"), "缺少 tracking_no"),
        ("generic", _without(generic("g-1", "InTransit", None, T0), "event_id"), "缺少 event_id"),
        ("generic", _without(generic("g-1", "InTransit", None, T0), "at"), "缺少 at"),
        ("generic", generic("g-1", "OnTheWay", None, T0), "未知的 status：OnTheWay"),
        ("generic", generic("g-1", "InTransit", "Delivered_Other", T0), "不匹配或未知"),
        ("generic", {**generic("g-1", "InTransit", None, T0), "at": "2026-02-10T09:00:00"}, "at 需要带时区"),
        (
            "generic",
            {**generic("g-1", "InTransit", None, T0), "expected_delivery": "next week"},
            "expected_delivery 不是日期",
        ),
    ],
)
async def test_missing_or_bad_fields_are_400_with_reason(client, db, hook_calls, provider, data, reason):
    resp = await post(client, provider, data)
    assert resp.status == 400
    assert reason in (await resp.json())["error"]
    assert await inbound(db) == [] and hook_calls == []
    assert (await order_of(db, SO1)).tracking_status is None


async def test_stopped_and_other_events_are_acknowledged_and_ignored(client, db, hook_calls):
    stopped = {"event": "TRACKING_STOPPED", "data": {"number": UPS_NO, "carrier": 1001, "param": None, "tag": None}}
    resp = await post(client, "17track", stopped)
    assert resp.status == 200 and await resp.json() == {"ok": True, "ignored": "TRACKING_STOPPED"}
    resp = await post(client, "aftership", {**AFTERSHIP_SAMPLE, "event": "tracking_pending_time"})
    assert await resp.json() == {"ok": True, "ignored": "tracking_pending_time"}
    assert await inbound(db) == [] and hook_calls == []
    assert metrics(client)[("tracking:17track", "ignored")] == 1


# ---- dedupe and orphans ----------------------------------------------------------------------------------


async def test_repeat_delivery_changes_nothing(client, db, hook_calls):
    first = generic("g-1", "InTransit", "InTransit_PickedUp", T0 - timedelta(hours=3), location="深圳")
    resp = await post(client, "generic", first)
    assert (await resp.json())["matched"] is True
    after_first = await last_event_id(db)
    # The same event id again, even with another body, and the 17TRACK sample twice.
    again = {**first, "status": "Delivered", "sub_status": "Delivered_Other"}
    for data in (first, again):
        resp = await post(client, "generic", data)
        assert resp.status == 200 and await resp.json() == {"ok": True, "duplicate": True}
    assert await last_event_id(db) == after_first
    order = await order_of(db, SO1)
    assert (order.status, order.tracking_status) == ("shipped", "InTransit_PickedUp")
    assert order.tracking_at == T0 - timedelta(hours=3)
    out = seventeen("OutForDelivery_Other", "2026-02-10T00:30:00Z")
    await post(client, "17track", out)
    after_17 = await last_event_id(db)
    resp = await post(client, "17track", out)
    assert await resp.json() == {"ok": True, "duplicate": True}
    assert await last_event_id(db) == after_17
    assert (await order_of(db, SO1)).stage == "last_mile"
    assert hook_calls == ["tracking", "tracking"]
    assert metrics(client)[("tracking:generic", "duplicate")] == 2


async def test_unknown_number_is_kept_as_an_orphan(client, db, hook_calls):
    data = generic(
        "g-orphan", "InTransit", "InTransit_CustomsProcessing", T0, number="LX123456789CN", location="洛杉矶"
    )
    before = await last_event_id(db)
    resp = await post(client, "generic", data)
    assert resp.status == 200 and await resp.json() == {"ok": True, "matched": False}
    async with db.read() as s:
        row = (await s.execute(select(InboundEvent).where(InboundEvent.source == "tracking:generic"))).scalar_one()
    assert (row.key, row.state, row.payload) == ("g-orphan", "orphan", data)
    assert "LX123456789CN" in row.error
    assert await last_event_id(db) == before and hook_calls == []
    resp = await post(client, "generic", data)  # the carrier's retry is a duplicate, not a second orphan
    assert await resp.json() == {"ok": True, "duplicate": True}
    assert await inbound(db) == [("tracking:generic", "g-orphan", "orphan")]
    assert metrics(client)[("tracking:generic", "orphan")] == 1


# ---- customs ---------------------------------------------------------------------------------------------


async def test_customs_processing_info_required_released_keeps_first_customs_in(client, db, hook_calls):
    t1 = T0 - timedelta(hours=30)
    before = await last_event_id(db)
    steps = [
        (generic("c-1", "InTransit", "InTransit_CustomsProcessing", t1, location="洛杉矶"), "processing"),
        (
            generic("c-2", "InTransit", "InTransit_CustomsProcessing", t1 + timedelta(hours=6), location="洛杉矶"),
            "processing",
        ),
        (
            generic(
                "c-3",
                "InTransit",
                "InTransit_CustomsRequiringInformation",
                t1 + timedelta(hours=20),
                location="洛杉矶",
                message="Commercial invoice required",
            ),
            "info_required",
        ),
        (
            generic("c-4", "InTransit", "InTransit_CustomsReleased", t1 + timedelta(hours=28), location="洛杉矶"),
            "released",
        ),
    ]
    for data, state in steps:
        resp = await post(client, "generic", data)
        assert resp.status == 200, await resp.text()
        order = await order_of(db, SO1)
        assert order.customs_state == state
        assert order.customs_in_at == t1  # the first customs-in event, never reset
        assert order.stage == "customs"
    assert order.tracking_status == "InTransit_CustomsReleased"
    assert order.tracking_at == t1 + timedelta(hours=28)
    assert order.eta_cause == "清关需补充资料：Commercial invoice required"
    assert order.stage_since == t1
    assert await events_of(db, SO1, before) == [
        ("customs", "generic", "routing", "shipped", "清关中 · 洛杉矶"),
        ("stage", "generic", "customs", "shipped", "物流路由 → 海关申报"),
        ("customs", "generic", "customs", "shipped", "清关中 · 洛杉矶"),
        ("customs", "generic", "customs", "shipped", "清关需补充资料 · 洛杉矶：Commercial invoice required"),
        ("customs", "generic", "customs", "shipped", "清关放行 · 洛杉矶"),
    ]
    assert hook_calls == ["tracking"] * 4


async def test_aftership_customs_subtags(client, db):
    t1 = T0 - timedelta(hours=40)
    for i, (tag, subtag, state) in enumerate(
        [
            ("InTransit", "InTransit_006", "processing"),
            ("Exception", "Exception_018", "info_required"),
            ("InTransit", "InTransit_005", "released"),
        ]
    ):
        data = aftership(
            tag,
            subtag,
            (t1 + timedelta(hours=i)).isoformat(),
            event_id=f"as-{i}",
            message="Held by CBP: missing documents" if i == 1 else "",
        )
        resp = await post(client, "aftership", data)
        assert resp.status == 200
        order = await order_of(db, SO2)
        assert (order.customs_state, order.customs_in_at, order.stage) == (state, t1, "customs")
    assert order.eta_cause == "物流异常（安检、清关或税费问题）：Held by CBP: missing documents"


async def test_customs_hold_via_17track_exception_security(client, db):
    resp = await post(
        client, "17track", seventeen("Exception_Security", "2026-02-09T10:00:00Z", description="Held by customs")
    )
    assert resp.status == 200
    order = await order_of(db, SO1)
    assert order.customs_state == "info_required"
    assert order.customs_in_at == datetime(2026, 2, 9, 10, tzinfo=UTC)
    assert order.eta_cause == "物流异常（安检、清关或税费问题）：Held by customs"


# ---- stages and statuses ---------------------------------------------------------------------------------


async def test_the_chain_moves_forward_to_delivered(client, db):
    t = T0 - timedelta(days=5)
    chain = [
        ("InTransit", "InTransit_PickedUp", "routing"),
        ("InTransit", "InTransit_CustomsProcessing", "customs"),
        ("InTransit", "InTransit_OverseasWarehouse", "overseas_wh"),
        ("OutForDelivery", "OutForDelivery_Other", "last_mile"),
        ("Delivered", "Delivered_Other", "delivered"),
    ]
    for i, (status, sub, stage) in enumerate(chain):
        await post(client, "generic", generic(f"ch-{i}", status, sub, t + timedelta(days=i)))
        order = await order_of(db, SO1)
        assert order.stage == stage, sub
        # routing since the scan that shipped it (T0); every later node since the carrier's event time
        assert order.stage_since == (T0 if stage == "routing" else t + timedelta(days=i))
    assert order.status == "delivered" and order.delivered_at == t + timedelta(days=4)


async def test_backwards_update_is_recorded_not_applied(client, db):
    t = T0 - timedelta(days=2)
    await post(client, "generic", generic("b-1", "OutForDelivery", None, t, location="Gasquet"))
    order = await order_of(db, SO1)
    assert order.stage == "last_mile"
    since = order.stage_since
    before = await last_event_id(db)
    resp = await post(
        client,
        "generic",
        generic("b-2", "InTransit", "InTransit_CustomsProcessing", t + timedelta(hours=1), location="洛杉矶"),
    )
    assert resp.status == 200 and (await resp.json())["matched"] is True
    order = await order_of(db, SO1)
    assert (order.stage, order.stage_since, order.status) == ("last_mile", since, "shipped")
    assert order.tracking_status == "InTransit_CustomsProcessing"  # the carrier's latest word is still kept
    assert await events_of(db, SO1, before) == [
        ("customs", "generic", "last_mile", "shipped", "清关中 · 洛杉矶（履约环节已在「本地配送」，不回退）")
    ]


async def test_late_older_event_is_recorded_only(client, db, hook_calls):
    t = T0 - timedelta(hours=5)
    await post(client, "generic", generic("l-1", "OutForDelivery", None, t))
    before = await last_event_id(db)
    resp = await post(
        client,
        "generic",
        generic(
            "l-2", "InTransit", "InTransit_CustomsReleased", t - timedelta(hours=20), expected_delivery="2026-03-01"
        ),
    )
    assert await resp.json() == {
        "ok": True,
        "matched": True,
        "order_no": SO1,
        "tracking_status": "OutForDelivery_Other",
        "stale": True,
    }
    order = await order_of(db, SO1)
    assert (order.tracking_status, order.tracking_at, order.stage) == ("OutForDelivery_Other", t, "last_mile")
    assert order.customs_state is None and order.expected_delivery is None
    assert await events_of(db, SO1, before) == [
        ("customs", "generic", "last_mile", "shipped", "清关放行（晚到的较早轨迹，仅记录）")
    ]
    assert hook_calls == ["tracking", "tracking"]
    assert metrics(client)[("tracking:generic", "stale")] == 1


async def test_illegal_status_change_is_recorded_not_an_error(client, db):
    before = await last_event_id(db)
    resp = await post(client, "generic", generic("p-1", "Delivered", None, T0 - timedelta(hours=1), number=PAID_NO))
    assert resp.status == 200
    order = await order_of(db, SO3)
    assert (order.status, order.stage, order.delivered_at) == ("paid", "inventory", None)
    assert order.tracking_status == "Delivered_Other"
    assert await events_of(db, SO3, before) == [
        ("tracking", "generic", "inventory", "paid", "已签收（订单不能从「已付款」变为「已签收」）")
    ]
    resp = await post(client, "generic", generic("p-2", "InTransit", "InTransit_PickedUp", T0, number=PAID_NO))
    assert resp.status == 200
    assert (await order_of(db, SO3)).stage == "inventory"
    detail = (await events_of(db, SO3, before))[-1][-1]
    assert detail == "已揽收（「已付款」的订单不能处于「物流路由」环节）"


async def test_future_carrier_time_is_clamped_to_now(client, db):
    await post(client, "generic", generic("f-1", "InTransit", "InTransit_PickedUp", T0 + timedelta(days=2)))
    assert (await order_of(db, SO1)).tracking_at == T0


# ---- ETA and exceptions ----------------------------------------------------------------------------------


async def test_expected_delivery_from_each_provider(client, db):
    resp = await post(
        client, "17track", seventeen("InTransit_Other", "2026-02-09T08:00:00Z", eta_to="2026-02-20T18:00:00-08:00")
    )
    assert resp.status == 200
    assert (await order_of(db, SO1)).expected_delivery == date(2026, 2, 20)
    detail = (await events_of(db, SO1))[-1][-1]
    assert detail == "运输中 · LOS ANGELES, CA, US（承运商预计 2026-02-20 送达）"
    data = aftership(
        "InTransit",
        "InTransit_003",
        "2026-02-09T10:00:00+08:00",
        event_id="eta-1",
        aftership_estimated_delivery_date={"estimated_delivery_date": "2026-02-18", "confidence_score": None},
    )
    await post(client, "aftership", data)
    order2 = await order_of(db, SO2)
    assert order2.expected_delivery == date(2026, 2, 18)
    assert order2.tracking_at == datetime(2026, 2, 9, 2, tzinfo=UTC)
    await post(
        client,
        "aftership",
        aftership(
            "InTransit", "InTransit_003", "2026-02-09T11:00:00+08:00", event_id="eta-2", expected_delivery="2026-02-17"
        ),
    )
    assert (await order_of(db, SO2)).expected_delivery == date(2026, 2, 17)
    await post(
        client,
        "generic",
        generic(
            "eta-3", "Exception", "Exception_Delayed", T0, expected_delivery="2026-02-25", message="Port congestion"
        ),
    )
    order = await order_of(db, SO1)
    assert order.expected_delivery == date(2026, 2, 25)
    assert order.eta_cause == "运输延误：Port congestion"
    assert order.stage == "routing"  # an exception reports, it does not move the order


# ---- the rules hook --------------------------------------------------------------------------------------


async def test_rules_hook_called_once_per_accepted_event(client, db, hook_calls):
    await post(client, "generic", generic("r-1", "InTransit", None, T0 - timedelta(hours=2)))
    assert hook_calls == ["tracking"]
    await post(client, "generic", generic("r-1", "InTransit", None, T0 - timedelta(hours=2)))  # duplicate
    await post(client, "generic", generic("r-2", "InTransit", None, T0, number="UNKNOWN1"))  # orphan
    await post(client, "generic", generic("r-3", "Nope", None, T0))  # invalid
    await post(client, "generic", generic("r-4", "InTransit", None, T0), secret="wrong")  # bad signature
    assert hook_calls == ["tracking"]
    await post(client, "17track", seventeen("InTransit_Arrival", "2026-02-10T00:00:00Z"))
    assert hook_calls == ["tracking", "tracking"]
    await post(client, "17track", SEVENTEEN_SAMPLE)  # older than the last event: recorded, still accepted
    assert hook_calls == ["tracking"] * 3


# ---- pure parts ------------------------------------------------------------------------------------------


def test_17track_sign_matches_the_reference_formula():
    body = json.dumps(SEVENTEEN_SAMPLE).encode()
    expected = hashlib.sha256((body.decode("utf-8") + "/" + "key-1").encode("utf-8")).hexdigest()
    assert verify_17track_sign("key-1", body, expected)
    assert verify_17track_sign("key-1", body, expected.upper())
    assert not verify_17track_sign("key-2", body, expected)
    assert not verify_17track_sign("key-1", body, None)
    assert not verify_17track_sign("key-1", b"\xff" + body, expected)


@pytest.mark.parametrize(
    "tag, subtag, status, sub_status",
    [
        ("Pending", "Pending_001", "NotFound", "NotFound_Other"),
        ("InfoReceived", "InfoReceived_001", "InfoReceived", "InfoReceived"),
        ("InTransit", "InTransit_002", "InTransit", "InTransit_PickedUp"),
        ("InTransit", "InTransit_004", "InTransit", "InTransit_Arrival"),
        ("InTransit", "InTransit_005", "InTransit", "InTransit_CustomsReleased"),
        ("InTransit", "InTransit_006", "InTransit", "InTransit_CustomsProcessing"),
        ("InTransit", "InTransit_007", "InTransit", "InTransit_Other"),
        ("OutForDelivery", "OutForDelivery_001", "OutForDelivery", "OutForDelivery_Other"),
        ("AttemptFail", "AttemptFail_002", "DeliveryFailure", "DeliveryFailure_Other"),
        ("AvailableForPickup", "AvailableForPickup_001", "AvailableForPickup", "AvailableForPickup_Other"),
        ("Delivered", "Delivered_003", "Delivered", "Delivered_Other"),
        ("Exception", "Exception_004", "Exception", "Exception_Security"),
        ("Exception", "Exception_013", "Exception", "Exception_Lost"),
        ("Exception", "Exception_018", "Exception", "Exception_Security"),
        ("Expired", "Expired_001", "Expired", "Expired_Other"),
    ],
)
def test_aftership_tags_map_to_the_neutral_statuses(tag, subtag, status, sub_status):
    upd = parse_aftership(aftership(tag, subtag, "2026-02-09T10:00:00Z", event_id="e"))
    assert (upd.status, upd.sub_status, upd.dedupe_key, upd.tracking_no) == (status, sub_status, "e", PKG_NO)


@pytest.mark.parametrize(
    "status, sub_status, stage, customs, delivered, problem",
    [
        ("InfoReceived", "InfoReceived", None, None, False, False),
        ("InTransit", "InTransit_PickedUp", "routing", None, False, False),
        ("InTransit", "InTransit_Arrival", "customs", "processing", False, False),
        ("InTransit", "InTransit_CustomsProcessing", "customs", "processing", False, False),
        ("InTransit", "InTransit_CustomsRequiringInformation", "customs", "info_required", False, True),
        ("Exception", "Exception_Security", "customs", "info_required", False, True),
        ("DeliveryFailure", "DeliveryFailure_Security", "last_mile", "info_required", False, True),
        ("InTransit", "InTransit_CustomsReleased", "customs", "released", False, False),
        ("InTransit", "InTransit_OverseasWarehouse", "overseas_wh", None, False, False),
        ("OutForDelivery", "OutForDelivery_Other", "last_mile", None, False, False),
        ("AvailableForPickup", "AvailableForPickup_Other", "last_mile", None, False, False),
        ("DeliveryFailure", "DeliveryFailure_NoBody", "last_mile", None, False, True),
        ("Delivered", "Delivered_Other", None, None, True, False),
        ("Exception", "Exception_Returning", None, None, False, True),
        ("Expired", "Expired_Other", None, None, False, True),
        ("NotFound", "NotFound_Other", None, None, False, False),
    ],
)
def test_status_mapping_table(status, sub_status, stage, customs, delivered, problem):
    effect = effect_of(status, sub_status)
    assert (effect.stage, effect.customs, effect.delivered, effect.problem) == (stage, customs, delivered, problem)


def test_parsers_read_the_reference_samples():
    upd = parse_17track(SEVENTEEN_SAMPLE)
    assert (upd.tracking_no, upd.status, upd.sub_status, upd.location, upd.message, upd.expected_delivery) == (
        UPS_NO,
        "Delivered",
        "Delivered_Other",
        "GASQUET, CA, US",
        "DELIVERED",
        None,
    )
    assert upd.at == datetime(2022, 4, 4, 23, 35, 22, tzinfo=UTC)
    assert parse_17track({"event": "TRACKING_STOPPED", "data": {"number": "1"}}) == Ignored("TRACKING_STOPPED")
    upd = parse_aftership(AFTERSHIP_SAMPLE)
    assert upd.message == "Departed Shipping Partner Facility, USPS Awaiting Item" and upd.location is None
    upd = parse_generic(generic("g", "InfoReceived", None, T0, location=" 深圳 ", expected_delivery="2026-02-20"))
    assert (upd.sub_status, upd.location, upd.at, upd.expected_delivery) == (
        "InfoReceived",
        "深圳",
        T0,
        date(2026, 2, 20),
    )


def test_a_provider_may_have_its_own_secret():
    from orderbot.settings import load_settings

    s = load_settings(env_file=None, TRACKING_WEBHOOK_SECRET="shared", TRACKING_WEBHOOK_SECRET_17TRACK="own17")
    assert s.tracking_secret("17track")[0].get_secret_value() == "own17"
    assert s.tracking_secret("17track")[1] == "TRACKING_WEBHOOK_SECRET_17TRACK"
    assert s.tracking_secret("aftership")[0].get_secret_value() == "shared"
    assert s.tracking_secret("generic")[1] == "TRACKING_WEBHOOK_SECRET"
