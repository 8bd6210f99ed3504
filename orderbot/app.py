"""The composition root: settings, business config, database, clock and the web app, wired in one place.

`create_app(settings, **overrides)` builds the same graph for `serve`, `demo` and the tests; tests pass fakes
at the edges (a manual clock, a database on another URL) instead of patching module globals.
"""
from __future__ import annotations

from aiohttp import web

from .config import BusinessConfig, load_config
from .core.clock import Clock, system_clock
from .db import Database
from .settings import Settings
from .webhooks import health, orders
from .webhooks.common import CLOCK, CONFIG, DB, METRICS, SETTINGS, Metrics, request_context


def create_app(settings: Settings, *, config: BusinessConfig | None = None, db: Database | None = None,
               clock: Clock | None = None) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[request_context])
    app[SETTINGS] = settings
    app[CONFIG] = config if config is not None else load_config(settings.config_path)
    app[CLOCK] = clock or system_clock
    app[METRICS] = Metrics()
    owns_db = db is None
    app[DB] = db if db is not None else Database.from_url(settings.database_url)

    async def _database(app: web.Application):
        yield
        if owns_db:
            await app[DB].dispose()

    app.cleanup_ctx.append(_database)
    health.setup(app)
    orders.setup(app)
    return app
