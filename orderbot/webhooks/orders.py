"""Order webhooks: the generic signed JSON door and Shopify's order topics.

Verify the signature on the raw body first, then parse, then hand over to `core.orders.intake`; no business rule
lives here. Wrong signature → 401, malformed → 400, too large → 413 (by aiohttp's client_max_size).
"""

from __future__ import annotations

import hashlib
import logging

from aiohttp import web

from orderbot.core.errors import InvalidOrder, OrderNotFound
from orderbot.core.warehouse.scanning import WaybillRefused, check_waybill
from orderbot.core.orders.intake import accept_order_event
from orderbot.core.orders.schema import parse_order
from orderbot.webhooks.common import (
    CLOCK,
    CONFIG,
    DB,
    METRICS,
    RULES_HOOK,
    SETTINGS,
    json_body,
    json_error,
    json_ok,
    signed_body,
)
from orderbot.webhooks.shopify import ShopifyShapeError, shopify_to_order
from orderbot.webhooks.signatures import verify_b64_signature, verify_hex_signature

log = logging.getLogger("orderbot.webhooks.orders")
SHOPIFY_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled", "orders/paid"})


async def _accept(request: web.Request, source: str, key: str, data, auto_products=None) -> web.Response:
    app = request.app
    try:
        order = parse_order(data)
    except InvalidOrder as exc:
        app[METRICS].inbound(source, "invalid")
        return json_error(400, "订单数据不合法", problems=[{"field": f, "reason": r} for f, r in exc.problems])
    try:
        result = await accept_order_event(
            app[DB].write,
            source=source,
            dedupe_key=key,
            data=order,
            config=app[CONFIG],
            now=app[CLOCK](),
            auto_products=auto_products,
        )
    except InvalidOrder as exc:
        app[METRICS].inbound(source, "invalid")
        return json_error(400, "订单数据不合法", problems=[{"field": f, "reason": r} for f, r in exc.problems])
    if result is None:
        app[METRICS].inbound(source, "duplicate")
        return json_ok(duplicate=True)
    app[METRICS].inbound(source, result.outcome)
    await app[RULES_HOOK]("orders")
    return json_ok(order_no=result.order_no, outcome=result.outcome, review_hold=result.review_hold)


async def generic_order(request: web.Request) -> web.Response:
    body = await signed_body(
        request,
        request.app[SETTINGS].ingest_secret,
        verify_hex_signature,
        "X-Orderbot-Signature",
        "orders",
        "ORDERBOT_INGEST_SECRET",
    )
    data = json_body(body)
    key = request.headers.get("X-Orderbot-Event-Id") or hashlib.sha256(body).hexdigest()
    return await _accept(request, "orders", key, data)


async def shopify_order(request: web.Request) -> web.Response:
    body = await signed_body(
        request,
        request.app[SETTINGS].shopify_webhook_secret,
        verify_b64_signature,
        "X-Shopify-Hmac-Sha256",
        "shopify",
        "SHOPIFY_WEBHOOK_SECRET",
    )
    topic = request.headers.get("X-Shopify-Topic", "")
    if topic not in SHOPIFY_TOPICS:
        # Acknowledge topics we do not subscribe to, so Shopify does not retry them for hours.
        return json_ok(ignored=topic or "no topic")
    payload = json_body(body)
    if not isinstance(payload, dict):
        return json_error(400, "Shopify 订单应为JSON对象")
    key = (
        request.headers.get("X-Shopify-Webhook-Id")
        or request.headers.get("X-Shopify-Event-Id")
        or hashlib.sha256(body).hexdigest()
    )
    try:
        data, products = shopify_to_order(payload, request.app[CONFIG])
    except ShopifyShapeError as exc:
        request.app[METRICS].inbound("shopify", "invalid")
        return json_error(400, f"Shopify 订单格式不对：{exc}", problems=[{"field": exc.field, "reason": str(exc)}])
    return await _accept(request, "shopify", key, data, auto_products=products)


async def waybill(request: web.Request) -> web.Response:
    """The carrier batch asks before it requests a waybill: 200 when every package is scanned, 409 naming the
    unscanned packages otherwise. Signed like /webhooks/orders."""
    body = await signed_body(
        request,
        request.app[SETTINGS].ingest_secret,
        verify_hex_signature,
        "X-Orderbot-Signature",
        "waybill",
        "ORDERBOT_INGEST_SECRET",
    )
    data = json_body(body)
    if not isinstance(data, dict) or not isinstance(data.get("order_no"), str):
        return json_error(400, "需要 order_no")
    try:
        async with request.app[DB].read() as session:
            order = await check_waybill(session, data["order_no"])
    except OrderNotFound as exc:
        return json_error(404, exc.message)
    except WaybillRefused as exc:
        return json_error(409, exc.message, unscanned=exc.data["unscanned"])
    return json_ok(order_no=order.order_no, packages_scanned=True)


def setup(app: web.Application) -> None:
    app.router.add_post("/webhooks/orders", generic_order)
    app.router.add_post("/webhooks/shopify", shopify_order)
    app.router.add_post("/api/waybill", waybill)
