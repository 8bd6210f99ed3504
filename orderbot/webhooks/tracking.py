"""Carrier tracking pushes: `POST /webhooks/tracking/{provider}` for `aftership`, `17track` and `generic`.

Order of checks: unknown provider → 404; `TRACKING_WEBHOOK_SECRET` unset → 503; the provider's signature over
the raw body → 401 (nothing stored); JSON and required fields → 400. The update itself is `core.tracking`'s;
every accepted push answers 200, including an unknown tracking number (kept as an orphan), because carriers
retry anything else for days and a retry would not make the number known.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from collections.abc import Callable

from aiohttp import web

from orderbot.core.tracking import PARSERS, Ignored, InvalidTrackingPayload, apply_tracking_update
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
from orderbot.webhooks.signatures import verify_b64_signature, verify_hex_signature

log = logging.getLogger("orderbot.webhooks.tracking")


def verify_17track_sign(secret: str, body: bytes, header: str | None) -> bool:
    """17TRACK `sign` header = hex SHA-256 of `raw_body + "/" + key` (a plain hash, not an HMAC).

    UNCONFIRMED: taken from a third-party integration that implements and tests it (agritheory/
    shipstation_integration); no official 17TRACK page stating the algorithm was found. Check it against a real
    push before going live. The secret is compared through the digest in constant time.
    """
    if not header:
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    expected = hashlib.sha256((text + "/" + secret).encode("utf-8")).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


@dataclass(frozen=True)
class Door:
    header: str
    verify: Callable[[str, bytes, str | None], bool]


DOORS = {
    "aftership": Door("aftership-hmac-sha256", verify_b64_signature),  # base64 HMAC-SHA256 of the raw body
    "17track": Door("sign", verify_17track_sign),
    "generic": Door("X-Orderbot-Signature", verify_hex_signature),  # sha256=<hex HMAC>, like /webhooks/orders
}


async def tracking_push(request: web.Request) -> web.Response:
    app = request.app
    provider = request.match_info["provider"]
    door = DOORS.get(provider)
    if door is None:
        return json_error(404, f"未知的轨迹来源：{provider}（支持 {'、'.join(DOORS)}）")
    source = f"tracking:{provider}"
    secret, name = app[SETTINGS].tracking_secret(provider)
    body = await signed_body(request, secret, door.verify, door.header, source, name)
    try:
        payload = json_body(body)
    except web.HTTPBadRequest:
        app[METRICS].inbound(source, "invalid")
        raise
    try:
        parsed = PARSERS[provider](payload)
    except InvalidTrackingPayload as exc:
        app[METRICS].inbound(source, "invalid")
        return json_error(400, exc.message)
    if isinstance(parsed, Ignored):
        app[METRICS].inbound(source, "ignored")
        return json_ok(ignored=parsed.event)
    async with app[DB].write() as session:
        result = await apply_tracking_update(
            session, parsed, now=app[CLOCK](), payload=payload, causes=app[CONFIG].delay_causes
        )
    app[METRICS].inbound(source, result.outcome)
    if result.outcome == "duplicate":
        return json_ok(duplicate=True)
    if result.outcome == "orphan":
        log.info("tracking push for unknown number %s kept as orphan (%s)", parsed.tracking_no, source)
        return json_ok(matched=False)
    await app[RULES_HOOK]("tracking")  # after the commit; it only schedules an evaluation
    return json_ok(
        matched=True, order_no=result.order_no, tracking_status=result.tracking_status, stale=result.outcome == "stale"
    )


def setup(app: web.Application) -> None:
    app.router.add_post("/webhooks/tracking/{provider}", tracking_push)
