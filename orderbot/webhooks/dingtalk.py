"""`POST /dingtalk/callback`: DingTalk app robot messages in HTTP mode.

Headers `timestamp` (ms) and `sign` = Base64(HmacSHA256(appSecret, timestamp + "\\n" + appSecret)); a timestamp
more than an hour off, or a wrong sign, is refused before the body is read. Since the sign covers only the
timestamp, the body is then checked as if unsigned: at most 64 KB, bounded JSON, every field of the right shape
(400), a sender in the staff directory (403), and a sessionWebhook kept only on DingTalk's own hosts.
The reply goes out through the outbox (session webhook while valid, then the OpenAPI), so the callback answers at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable

from aiohttp import web

from orderbot.messaging.pipeline import InboundPipeline
from orderbot.webhooks.common import CLOCK, METRICS, TaskTracker, drain_at_shutdown, json_error, json_ok
from orderbot.webhooks.dingtalk_msg import BadMessage, sender_of, to_event
from orderbot.webhooks.limits import loads_bounded, read_capped

log = logging.getLogger("orderbot.webhooks.dingtalk")
MAX_SKEW_MS = 3600 * 1000


def dingtalk_sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkInbound:
    def __init__(
        self,
        app_secret: str,
        app_key: str | None,
        pipeline: InboundPipeline,
        *,
        staff_ids: Callable[[], frozenset[str]] = frozenset,
        api_base: str | None = None,
    ):
        """`staff_ids` gives the DingTalk user ids of the staff directory (read at each call, so a reloaded
        config counts); `api_base` is DINGTALK_API_BASE, whose origin is trusted for session webhooks."""
        self._secret, self.app_key, self.pipeline = app_secret, app_key, pipeline
        self.staff_ids, self.api_base = staff_ids, api_base
        self.background = TaskTracker("dingtalk")


DINGTALK = web.AppKey("dingtalk_inbound", DingTalkInbound)


async def callback(request: web.Request) -> web.Response:
    inbound = request.app[DINGTALK]
    metrics = request.app[METRICS]
    ts, sign = request.headers.get("timestamp", ""), request.headers.get("sign", "")
    now_ms = int(request.app[CLOCK]().timestamp() * 1000)
    if not ts.isdigit() or abs(now_ms - int(ts)) > MAX_SKEW_MS:
        metrics.inbound("dingtalk", "bad_timestamp")
        return json_error(401, "timestamp missing or more than an hour off")
    if not hmac.compare_digest(dingtalk_sign(inbound._secret, ts).encode(), sign.encode()):
        metrics.inbound("dingtalk", "bad_signature")
        return json_error(401, "invalid sign")
    body = await read_capped(request)
    try:
        data = loads_bounded(body)
        sender = sender_of(data)
        # The sign covers only the timestamp, so a captured pair lets anyone post any body within the window:
        # a body must at least name someone in the staff directory, and its reply only goes to DingTalk.
        if sender is not None and sender not in inbound.staff_ids():
            metrics.inbound("dingtalk", "unknown_sender")
            return json_error(403, "sender is not in the staff directory")
        event = to_event(data, robot_code=inbound.app_key, api_base=inbound.api_base)
    except (BadMessage, ValueError) as exc:  # JSON, depth, numbers, shapes: all ValueErrors with a reason
        metrics.inbound("dingtalk", "invalid")
        return json_error(400, f"malformed message: {exc}")
    if event is None:
        return json_ok(ignored=True)
    inbox_id = await inbound.pipeline.accept(event)  # durable before we answer
    if inbox_id is None:
        metrics.inbound("dingtalk", "duplicate")
        return json_ok(duplicate=True)
    metrics.inbound("dingtalk", "accepted")
    inbound.pipeline.schedule(inbox_id, event)  # the reply goes out through the outbox
    return json_ok()


def setup(app: web.Application, inbound: DingTalkInbound) -> None:
    app[DINGTALK] = inbound
    drain_at_shutdown(app, inbound.background)
    app.router.add_post("/dingtalk/callback", callback)
