"""Liveness and readiness (`/healthz`) and Prometheus metrics (`/metrics`).

Ready means the database answers, is writable (PostgreSQL: not read-only; SQLite: still the file opened at
start-up, same inode, writable) and its schema is at the head revision."""

from __future__ import annotations

import hmac
import json

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from orderbot.core import outbox
from orderbot.db.health import answers_read_only
from orderbot.db.migrate import current_revision, head_revision
from orderbot.webhooks.common import ALERTS, DB, METRICS, SETTINGS, json_error
from orderbot.webhooks.dbfile import DB_FILE


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DB]
    checks: dict[str, object] = {}
    try:
        read_only = await answers_read_only(db)  # a read-only replica or default would lose every write
        problem = request.app[DB_FILE].problem() if DB_FILE in request.app else None
        if read_only:
            problem = "数据库只读"
        checks["database"] = "ok" if problem is None else problem
        current = await current_revision(db.engine)
        checks["schema"] = "current" if current == head_revision() else f"outdated ({current} < {head_revision()})"
    except (SQLAlchemyError, OSError) as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = checks.get("database") == "ok" and checks.get("schema") == "current"
    body = {"status": "ok" if ready else "degraded", "checks": checks, "dialect": db.dialect}
    alerts = request.app[ALERTS].problems
    if alerts:  # the bot is up, but a platform refuses it until a person fixes the configuration
        body["platforms"] = dict(alerts)
        body["status"] = "degraded" if ready else body["status"]
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format. With ORDERBOT_METRICS_TOKEN set, only `Authorization: Bearer <token>` may read."""
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.json_response(
                {"ok": False, "error": "需要 Authorization: Bearer <ORDERBOT_METRICS_TOKEN>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                dumps=lambda o: json.dumps(o, ensure_ascii=False),
            )
    try:
        async with request.app[DB].read(heavy=True) as s:
            states = await outbox.counts(s)
    except SQLAlchemyError:
        return json_error(503, "database unreachable")
    return web.Response(
        body=request.app[METRICS].render(states),
        headers={"Content-Type": CONTENT_TYPE_LATEST, "X-Content-Type-Options": "nosniff"},
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
