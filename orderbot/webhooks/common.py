"""Shared pieces of the HTTP edge: app keys, JSON errors, request ids, metrics."""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from typing import Any

from aiohttp import web

from orderbot.messaging.worker import OutboxWorker, PlatformAlerts
from orderbot.messaging.pipeline import InboundPipeline
from orderbot.config import BusinessConfig
from orderbot.core.clock import Clock
from orderbot.db.engine import Database
from orderbot.settings import Settings
from orderbot.webhooks.limits import json_body_or_400

log = logging.getLogger("orderbot.http")

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
    """Counters exposed at /metrics in the Prometheus text format."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.inbound: Counter[tuple[str, str]] = Counter()

    def render(self, gauges: dict[str, float]) -> str:
        out = ["# HELP orderbot_http_requests_total HTTP requests by route and status.",
               "# TYPE orderbot_http_requests_total counter"]
        out += [f'orderbot_http_requests_total{{route="{r}",status="{s}"}} {n}'
                for (r, s), n in sorted(self.requests.items())]
        out += ["# HELP orderbot_inbound_events_total Inbound events by source and outcome.",
                "# TYPE orderbot_inbound_events_total counter"]
        out += [f'orderbot_inbound_events_total{{source="{src}",outcome="{o}"}} {n}'
                for (src, o), n in sorted(self.inbound.items())]
        for name, value in gauges.items():
            out += [f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(out) + "\n"


METRICS = web.AppKey("metrics", Metrics)
REQUEST_ID = web.RequestKey("request_id", str)
SENDERS = web.AppKey("senders", dict)
WORKER = web.AppKey("outbox_worker", OutboxWorker)
PIPELINE = web.AppKey("pipeline", InboundPipeline)
ALERTS = web.AppKey("platform_alerts", PlatformAlerts)


def json_error(status: int, reason: str, **extra: Any) -> web.Response:
    return web.json_response({"ok": False, "error": reason, **extra}, status=status,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


def json_ok(**body: Any) -> web.Response:
    return web.json_response({"ok": True, **body}, dumps=lambda o: json.dumps(o, ensure_ascii=False))


@web.middleware
async def request_context(request: web.Request, handler):
    """Tag each request with an id, count it, and turn an unexpected failure into a logged 500."""
    rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
    request[REQUEST_ID] = rid
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status == 413:
            response = json_error(413, "请求体过大", request_id=rid)
        else:
            exc.headers["X-Request-Id"] = rid
            request.app[METRICS].requests[(route, exc.status)] += 1
            raise
    except Exception:
        log.exception("request %s %s failed (request id %s)", request.method, request.path, rid)
        response = json_error(500, "internal error", request_id=rid)
    response.headers["X-Request-Id"] = rid
    request.app[METRICS].requests[(route, response.status)] += 1
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


def json_body(body: bytes):
    """The parsed JSON body (finite numbers, bounded depth), or 400 with the reason."""
    return json_body_or_400(body)


async def signed_body(request: web.Request, secret, verify, header: str, source: str, what: str) -> bytes:
    """The raw body once its signature checks out; 503 when the door's secret is not set, 401 when it is wrong."""
    if secret is None:
        raise web.HTTPServiceUnavailable(text=json.dumps({"ok": False, "error": f"{what} 未配置，接口已关闭"},
                                                         ensure_ascii=False), content_type="application/json")
    body = await request.read()
    if not verify(secret.get_secret_value(), body, request.headers.get(header)):
        request.app[METRICS].inbound[(source, "bad_signature")] += 1
        raise web.HTTPUnauthorized(text=json.dumps({"ok": False, "error": "签名错误"}, ensure_ascii=False),
                                   content_type="application/json")
    return body
