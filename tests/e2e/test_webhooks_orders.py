"""The order webhooks over real HTTP: signatures, malformed and oversized bodies, dedupe, Shopify topics."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from orderbot.app import create_app
from orderbot.core.models import InboundEvent, Order, Product
from orderbot.core.orders.service import get_order
from orderbot.core.stock import ledger
from orderbot.settings import load_settings

from tests.helpers import add_products, no_reply, order_json

INGEST = "ingest-test-secret"
SHOPIFY = "shopify-test-secret"

SHOPIFY_ORDER = {
    "id": 820982911946154508,
    "name": "#9999",
    "order_number": 1234,
    "email": "jon@example.com",
    "created_at": "2021-12-31T19:00:00-05:00",
    "updated_at": "2021-12-31T19:00:00-05:00",
    "cancelled_at": None,
    "cancel_reason": None,
    "currency": "USD",
    "current_total_price": "398.00",
    "total_price": "388.00",
    "financial_status": "paid",
    "fulfillment_status": None,
    "note": None,
    "customer": {"id": 115310627314723954, "email": "john@example.com", "first_name": "John", "last_name": "Smith"},
    "line_items": [
        {
            "id": 866550311766439020,
            "current_quantity": 1,
            "quantity": 1,
            "grams": 567,
            "name": "IPod Nano - 8GB",
            "title": "IPod Nano - 8GB",
            "sku": "IPOD2008PINK",
            "variant_id": 808950810,
            "price": "199.00",
        }
    ],
    "shipping_address": {"country": "United States", "country_code": "US", "province": "Kentucky"},
}


def sign_hex(body: bytes, secret: str = INGEST) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_b64(body: bytes, secret: str = SHOPIFY) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
async def client(db, config, clock):
    settings = load_settings(
        env_file=None, ORDERBOT_INGEST_SECRET=INGEST, SHOPIFY_WEBHOOK_SECRET=SHOPIFY, ORDERBOT_MAX_BODY_BYTES=65536
    )
    async with db.write() as s:
        await add_products(s, config, at=clock())
    app = create_app(settings, config=config, db=db, clock=clock, handler=no_reply, run_worker=False)
    async with TestClient(TestServer(app)) as c:
        yield c


async def _count(db, model) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar()


async def post_order(client, data, *, signature=None, headers=None):
    body = json.dumps(data, ensure_ascii=False).encode() if not isinstance(data, bytes) else data
    h = {"X-Orderbot-Signature": signature or sign_hex(body), "Content-Type": "application/json"}
    h.update(headers or {})
    return await client.post("/webhooks/orders", data=body, headers=h)


async def test_signed_order_is_stored(client, db):
    resp = await post_order(client, order_json())
    body = await resp.json()
    assert resp.status == 200, body
    assert body == {"ok": True, "order_no": "SO202602010001", "outcome": "created", "review_hold": False}
    async with db.read() as s:
        assert (await get_order(s, "SO202602010001")).customs_grade == "C"


async def test_bad_signature_is_401_and_stores_nothing(client, db):
    body = json.dumps(order_json()).encode()
    for sig in ("sha256=" + "0" * 64, sign_hex(body, "wrong"), "", "md5=abc"):
        resp = await client.post("/webhooks/orders", data=body, headers={"X-Orderbot-Signature": sig})
        assert resp.status == 401
    resp = await client.post("/webhooks/orders", data=body)
    assert resp.status == 401
    assert await _count(db, Order) == 0 and await _count(db, InboundEvent) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2", b'"just a string"', b"[]"])
async def test_malformed_body_is_400_with_reason(client, db, raw):
    resp = await post_order(client, raw)
    assert resp.status == 400
    assert (await resp.json())["error"]
    assert await _count(db, Order) == 0


async def test_invalid_order_lists_every_problem(client, db):
    bad = order_json(amount="12.345", urgency="soon")
    del bad["origin"]
    resp = await post_order(client, bad)
    assert resp.status == 400
    problems = {p["field"]: p["reason"] for p in (await resp.json())["problems"]}
    assert problems["金额(amount)"] == "金额最多两位小数"
    assert problems["发货地(origin)"] == "必填，不能为空"
    assert "紧急等级" in problems["紧急等级(urgency)"]
    assert await _count(db, Order) == 0 and await _count(db, InboundEvent) == 0


async def test_too_large_is_413(client, db):
    big = order_json(notes="长" * 40000)
    resp = await post_order(client, big)
    assert resp.status == 413
    assert await _count(db, Order) == 0


async def test_same_event_delivered_four_times_acts_once(client, db):
    outcomes = []
    for _ in range(4):
        resp = await post_order(client, order_json(), headers={"X-Orderbot-Event-Id": "evt-1"})
        outcomes.append(await resp.json())
    assert outcomes[0]["outcome"] == "created"
    assert all(o == {"ok": True, "duplicate": True} for o in outcomes[1:])
    async with db.read() as s:
        assert (await ledger.levels(s, "PB-20K-BLK")).reserved == 2
    assert await _count(db, Order) == 1


async def test_update_event_for_existing_order(client, db):
    await post_order(client, order_json())
    resp = await post_order(client, order_json(status="cancelled", cancel_reason="客户取消"))
    assert (await resp.json())["outcome"] == "updated"
    async with db.read() as s:
        assert (await get_order(s, "SO202602010001")).status == "cancelled"


async def test_missing_secret_closes_the_door(db, config, clock):
    app = create_app(load_settings(env_file=None), config=config, db=db, clock=clock, handler=no_reply)
    async with TestClient(TestServer(app)) as c:
        resp = await post_order(c, order_json())
        assert resp.status == 503


def shopify_headers(body: bytes, topic="orders/create", webhook_id="wh-1", sig=None):
    return {
        "X-Shopify-Hmac-Sha256": sig or sign_b64(body),
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": "demo.myshopify.com",
        "Content-Type": "application/json",
    }


async def test_shopify_create_then_cancel(client, db):
    body = json.dumps(SHOPIFY_ORDER).encode()
    resp = await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body))
    data = await resp.json()
    assert resp.status == 200 and data["outcome"] == "created", data
    async with db.read() as s:
        order = await get_order(s, "SO820982911946154508")
        assert (order.channel_code, order.channel_order_id, order.currency) == ("shopify", "#9999", "USD")
        assert order.amount_cents == 39800 and order.dest_country == "US" and order.status == "paid"
        product = await s.get(Product, "IPOD2008PINK")
        assert product.name == "IPod Nano - 8GB" and product.weight_g == 567
    # Redelivery with the same webhook id is a duplicate, whatever the body.
    resp = await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body))
    assert (await resp.json())["duplicate"] is True
    cancelled = copy.deepcopy(SHOPIFY_ORDER)
    cancelled.update(
        cancelled_at="2022-01-01T10:00:00-05:00",
        cancel_reason="customer",
        updated_at="2022-01-01T10:00:00-05:00",
        financial_status="voided",
    )
    body2 = json.dumps(cancelled).encode()
    resp = await client.post(
        "/webhooks/shopify", data=body2, headers=shopify_headers(body2, "orders/cancelled", "wh-2")
    )
    assert (await resp.json())["outcome"] == "updated"
    async with db.read() as s:
        order = await get_order(s, "SO820982911946154508")
        assert order.status == "cancelled" and order.cancel_reason == "customer"


async def test_shopify_stale_update_is_ignored(client, db):
    newer = copy.deepcopy(SHOPIFY_ORDER)
    newer.update(updated_at="2022-01-02T00:00:00-05:00", note="new note")
    body = json.dumps(newer).encode()
    await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body))
    older = copy.deepcopy(SHOPIFY_ORDER)
    older.update(note="old note")
    body2 = json.dumps(older).encode()
    resp = await client.post("/webhooks/shopify", data=body2, headers=shopify_headers(body2, "orders/updated", "wh-9"))
    assert (await resp.json())["outcome"] == "unchanged"
    async with db.read() as s:
        assert (await get_order(s, "SO820982911946154508")).notes == "new note"


async def test_shopify_bad_hmac_and_unknown_topic(client, db):
    body = json.dumps(SHOPIFY_ORDER).encode()
    resp = await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body, sig=sign_b64(body, "x")))
    assert resp.status == 401
    resp = await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body, topic="products/create"))
    assert resp.status == 200 and (await resp.json())["ignored"] == "products/create"
    assert await _count(db, Order) == 0


async def test_shopify_cancel_of_shipped_order_becomes_a_task(client, db, clock):
    from orderbot.core.models import Task
    from orderbot.core.orders.service import change_status, move_stage

    body = json.dumps(SHOPIFY_ORDER).encode()
    await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body))
    async with db.write() as s:
        order = await get_order(s, "SO820982911946154508")
        await move_stage(s, order, "packing", now=clock(), source="test")
        await change_status(s, order, "shipped", now=clock(), source="test")
    cancelled = copy.deepcopy(SHOPIFY_ORDER)
    cancelled.update(cancelled_at="2022-01-01T10:00:00-05:00", updated_at="2022-01-01T10:00:00-05:00")
    body2 = json.dumps(cancelled).encode()
    resp = await client.post("/webhooks/shopify", data=body2, headers=shopify_headers(body2, "orders/cancelled", "w3"))
    assert resp.status == 200 and (await resp.json())["outcome"] == "conflict"
    async with db.read() as s:
        assert (await get_order(s, "SO820982911946154508")).status == "shipped"
        types = (await s.execute(select(Task.type))).scalars().all()
        assert "channel_conflict" in types


async def test_healthz_and_metrics(client):
    resp = await client.get("/healthz")
    body = await resp.json()
    assert resp.status == 200 and body["checks"] == {"database": "ok", "schema": "current"}
    await post_order(client, order_json())
    await post_order(client, order_json())  # the same event again: a duplicate
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("orderbot_inbound_events_total", (("outcome", "created"), ("source", "orders")))] == 1
    assert samples[("orderbot_inbound_events_total", (("outcome", "duplicate"), ("source", "orders")))] == 1
    assert samples[("orderbot_http_requests_total", (("route", "/webhooks/orders"), ("status", "200")))] == 2
    assert samples[("orderbot_http_request_duration_seconds_count", (("route", "/webhooks/orders"),))] == 2
    assert families["orderbot_http_request_duration_seconds"].type == "histogram"


async def test_metrics_behind_a_bearer_token(db, config, clock):
    settings = load_settings(env_file=None, ORDERBOT_METRICS_TOKEN="s3cret-metrics")
    app = create_app(settings, config=config, db=db, clock=clock, handler=no_reply, run_worker=False)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
        resp = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
        assert resp.status == 200 and "orderbot_http_requests_total" in await resp.text()


async def test_a_deleted_sqlite_file_is_not_healthy_and_takes_no_orders(client, db):
    """Issue 13, item 5: with the SQLite file deleted under the running server, /healthz said 200 and the order
    webhook said "created" for orders that were gone."""
    from orderbot.db.engine import sqlite_path

    path = sqlite_path(db.engine.url)
    if path is None:
        pytest.skip("a SQLite file is what can be deleted under the server")
    assert (await client.get("/healthz")).status == 200
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    health = await client.get("/healthz")
    assert health.status == 503 and "数据库文件不见了" in (await health.json())["checks"]["database"]
    resp = await post_order(client, order_json("SO202602019999"))
    assert resp.status == 503 and "未保存" in (await resp.json())["error"]
    shop = await client.post(
        "/webhooks/shopify",
        data=json.dumps(SHOPIFY_ORDER).encode(),
        headers={
            "X-Shopify-Hmac-Sha256": sign_b64(json.dumps(SHOPIFY_ORDER).encode()),
            "X-Shopify-Topic": "orders/create",
        },
    )
    assert shop.status == 503


async def test_a_replaced_sqlite_file_is_not_healthy(client, db, tmp_path):
    from orderbot.db.engine import sqlite_path

    path = sqlite_path(db.engine.url)
    if path is None:
        pytest.skip("SQLite only")
    copy_path = tmp_path / "copy.db"
    copy_path.write_bytes(Path(path).read_bytes())
    os.replace(copy_path, path)  # same name, another inode: writes of the open connections go elsewhere
    health = await client.get("/healthz")
    assert health.status == 503 and "被替换" in (await health.json())["checks"]["database"]


async def test_metrics_count_outbox_sends_by_channel_and_outcome(db, config, clock):
    """The send-latency histogram is fed by the outbox worker: one sample per send, by channel and outcome."""
    from orderbot.core import media, outbox
    from orderbot.messaging.reply import Chart, Reply
    from orderbot.messaging.senders.sandbox import SandboxSender
    from orderbot.webhooks.common import WORKER

    settings = load_settings(env_file=None)
    sandbox = SandboxSender(clock)
    app = create_app(settings, config=config, db=db, clock=clock, handler=no_reply, senders={"sandbox": sandbox})
    async with TestClient(TestServer(app)) as client:
        gone = Reply(text="图", charts=(Chart("图", b"\x89PNG not kept"),)).to_dict()
        async with db.write() as s:
            for payload in (Reply(text="一").to_dict(), Reply(text="二").to_dict(), gone):
                await outbox.enqueue(
                    s, channel="sandbox", destination="user:u", kind="reply", payload=payload, now=clock()
                )
            await media.purge_expired(s, clock() + outbox.IMAGE_TTL)  # the third message's image is gone
        app[WORKER].wake.set()
        for _ in range(100):  # the app's own worker sends them
            if len(sandbox.sent) == 2 and not (await outbox_counts(db)).get("pending"):
                break
            await asyncio.sleep(0.05)
        resp = await client.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(await resp.text())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    count = "orderbot_outbox_send_duration_seconds_count"
    assert samples[(count, (("channel", "sandbox"), ("outcome", "sent")))] == 2
    assert samples[(count, (("channel", "sandbox"), ("outcome", "dead")))] == 1
    assert families["orderbot_outbox_send_duration_seconds"].type == "histogram"


async def outbox_counts(db) -> dict[str, int]:
    from orderbot.core import outbox

    async with db.read() as s:
        return await outbox.counts(s)
