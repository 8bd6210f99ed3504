"""Shared pieces of the HTTP edge: app keys, JSON errors, request ids, metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from orderbot.messaging.worker import OutboxWorker, PlatformAlerts
from orderbot.messaging.pipeline import InboundPipeline
from orderbot.config import BusinessConfig
from orderbot.core.clock import Clock
from orderbot.db.engine import Database
from orderbot.settings import Settings
from orderbot.webhooks.limits import json_body_or_400

log = logging.getLogger("orderbot.http")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SETTINGS = web.AppKey("settings", Settings)
CONFIG = web.AppKey("config", BusinessConfig)
DB = web.AppKey("db", Database)
CLOCK = web.AppKey("clock", Clock)


async def _no_rules(topic: str) -> None:
    return None


# Tell the rules engine that something it watches changed ("tracking", "orders", "scan"): an async callable that
# only schedules an evaluation and returns at once. The app sets it; by default nothing is evaluated.
RULES_HOOK = web.AppKey("rules_hook", object)
NO_RULES = _no_rules
RULES = web.AppKey("rules", object)  # the app's RulesRunner
WEATHER = web.AppKey("weather", object)  # the courier batch's weather source (None: not configured)


class Metrics:
    """What `/metrics` exposes, in one registry per app (no process-wide globals): request counts and latency by
    route, inbound events by source and outcome, outbox send latency by channel and outcome, outbox rows by
    state (read when scraped)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "orderbot_http_requests", "HTTP requests by route and status.", ["route", "status"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "orderbot_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.inbound_events = Counter(
            "orderbot_inbound_events",
            "Inbound events by source and outcome.",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.send_seconds = Histogram(
            "orderbot_outbox_send_duration_seconds",
            "Outbox sends to a platform by channel and outcome.",
            ["channel", "outcome"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.outbox_messages = Gauge(
            "orderbot_outbox_messages", "Outbox rows by state, when scraped.", ["state"], registry=self.registry
        )

    def inbound(self, source: str, outcome: str) -> None:
        self.inbound_events.labels(source, outcome).inc()

    def observe_send(self, channel: str, outcome: str, seconds: float) -> None:
        self.send_seconds.labels(channel, outcome).observe(seconds)

    def render(self, outbox_states: dict[str, int]) -> bytes:
        for state, n in outbox_states.items():
            self.outbox_messages.labels(state).set(n)
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)
REQUEST_ID = web.RequestKey("request_id", str)
SENDERS = web.AppKey("senders", dict)
WORKER = web.AppKey("outbox_worker", OutboxWorker)
PIPELINE = web.AppKey("pipeline", InboundPipeline)
ALERTS = web.AppKey("platform_alerts", PlatformAlerts)


def json_error(status: int, reason: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"ok": False, "error": reason, **extra}, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
    )


def json_ok(**body: Any) -> web.Response:
    return web.json_response({"ok": True, **body}, dumps=lambda o: json.dumps(o, ensure_ascii=False))


@web.middleware
async def request_context(request: web.Request, handler):
    """Tag each request with an id, count and time it, and turn an unexpected failure into a logged 500."""
    rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
    request[REQUEST_ID] = rid
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    metrics = request.app[METRICS]
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status == 413:
            response = json_error(413, "请求体过大", request_id=rid)
        else:
            exc.headers["X-Request-Id"] = rid
            metrics.requests.labels(route, str(exc.status)).inc()
            metrics.request_seconds.labels(route).observe(time.perf_counter() - started)
            raise
    except Exception:
        log.exception("request %s %s failed (request id %s)", request.method, request.path, rid)
        response = json_error(500, "internal error", request_id=rid)
    response.headers["X-Request-Id"] = rid
    metrics.requests.labels(route, str(response.status)).inc()
    metrics.request_seconds.labels(route).observe(time.perf_counter() - started)
    return response


class TaskTracker:
    """Background work spawned by a webhook: tracked, its failures logged, awaited at shutdown."""

    def __init__(self, name: str):
        self.name = name
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work of %s failed", self.name, exc_info=task.exception())

    async def drain(self, timeout: float = 10) -> None:
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=timeout)

    async def within(self, coro, deadline: float):
        """Start `coro` in the background; its result if it finishes within `deadline`, else TimeoutError."""
        task = self.spawn(coro)
        return await asyncio.wait_for(asyncio.shield(task), deadline)


def drain_at_shutdown(app: web.Application, background: TaskTracker) -> None:
    """A door's cleanup: at shutdown its work in flight (`background`) commits before the services close. A door
    is set up after the app's services, so its cleanup runs first; the services (the inbox pipeline, the outbox
    worker) are closed once, by the app (`bootstrap.Services.close`)."""

    async def drain(app: web.Application):
        yield
        await background.drain()

    app.cleanup_ctx.append(drain)


def json_body(body: bytes):
    """The parsed JSON body (finite numbers, bounded depth), or 400 with the reason."""
    return json_body_or_400(body)


async def signed_body(request: web.Request, secret, verify, header: str, source: str, what: str) -> bytes:
    """The raw body once its signature checks out; 503 when the door's secret is not set, 401 when it is wrong."""
    if secret is None:
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"ok": False, "error": f"{what} 未配置，接口已关闭"}, ensure_ascii=False),
            content_type="application/json",
        )
    body = await request.read()
    if not verify(secret.get_secret_value(), body, request.headers.get(header)):
        request.app[METRICS].inbound(source, "bad_signature")
        raise web.HTTPUnauthorized(
            text=json.dumps({"ok": False, "error": "签名错误"}, ensure_ascii=False), content_type="application/json"
        )
    return body
