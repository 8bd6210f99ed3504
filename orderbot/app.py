"""The web app factory: the services from `bootstrap.build`, under typed app keys, with the routes.

`create_app(settings, **overrides)` builds the same graph for `serve`, `demo` and the tests (the overrides are
`bootstrap.build`'s); the services (the inbox pipeline and the outbox worker among them) start and stop in one
`cleanup_ctx`; every background task is tracked and cancelled on shutdown.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from aiohttp import web

from orderbot import bootstrap
from orderbot.db.engine import sqlite_path
from orderbot.jobs.scheduler import attach as attach_scheduler
from orderbot.settings import Settings
from orderbot.webhooks import charts, dbfile, dingtalk, health, orders, tracking, wecom, wecom_aibot
from orderbot.webhooks.aibot_crypto import AibotCrypto
from orderbot.webhooks.dbfile import database_file_guard
from orderbot.webhooks.dingtalk_stream import StreamRunner
from orderbot.webhooks.common import (
    ALERTS,
    CLOCK,
    CONFIG,
    DB,
    METRICS,
    PIPELINE,
    RULES,
    RULES_HOOK,
    SENDERS,
    SETTINGS,
    WEATHER,
    WORKER,
    Metrics,
    request_context,
)

log = logging.getLogger("orderbot.app")
AIBOT_WS = web.AppKey("wecom_aibot_ws", object)  # the AI bot's long-connection client (None unless WECOM_AIBOT_MODE=ws)


def freeze_startup_heap() -> None:
    """For a process that *is* the app (`serve`, `demo`, the benchmark server), once its app has started: what
    start-up built (the intent parser's dictionaries, SQLAlchemy's mappers, the config) lives as long as the
    process, so it is moved out of the collector's full passes, which otherwise stall the loop for tens of ms.
    Not done by the app itself: a process that builds many apps (the tests) would pay a full collection of its
    whole heap, ~0.2 s, for each one."""
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings, *, run_worker: bool = True, run_scheduler: bool = False, **overrides: Any
) -> web.Application:
    """The web app over `bootstrap.build(settings, **overrides)` (config, db, clock, handler, senders, parser,
    demo). `run_worker` runs the outbox worker and the inbox resumer; `run_scheduler` (serve, demo) runs the
    standard jobs behind the lease; `demo` adds the sandbox page."""
    services = bootstrap.build(settings, **overrides)
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[request_context, database_file_guard])
    app[SETTINGS] = settings
    app[CONFIG] = services.config
    app[CLOCK] = services.clock
    app[METRICS] = metrics = Metrics()
    services.worker.observe_send = metrics.observe_send
    app[ALERTS] = services.alerts
    app[DB] = services.db
    app[SENDERS] = services.senders
    app[WORKER] = services.worker
    app[PIPELINE] = services.pipeline
    app[RULES] = rules = services.rules
    app[RULES_HOOK] = rules.hook
    app[WEATHER] = services.weather
    app[AIBOT_WS] = aibot_ws = services.aibot_ws

    async def _resources(app: web.Application):
        """The one place the services start and stop. Doors set up below append their own cleanup, which runs
        first at shutdown (their work in flight commits), then the services close (`Services.close`)."""
        await services.start(background=run_worker)
        stream = None
        if settings.dingtalk_mode == "stream" and settings.dingtalk_app_key and settings.dingtalk_app_secret:
            stream = StreamRunner(
                app_key=settings.dingtalk_app_key,
                app_secret=settings.dingtalk_app_secret.get_secret_value(),
                api_base=settings.dingtalk_api_base,
                pipeline=services.pipeline,
            )
            stream.start(asyncio.get_running_loop())
        if aibot_ws is not None:
            aibot_ws.start()
        yield
        if aibot_ws is not None:
            await aibot_ws.stop()
        if stream is not None:
            await stream.stop()
        await services.close()

    app.cleanup_ctx.append(_resources)
    if run_scheduler:  # `serve` and `demo`; app tests build apps without one
        attach_scheduler(app, services.jobs(run_worker=run_worker))
    health.setup(app)
    dbfile.setup(app, sqlite_path(services.db.engine.url))
    orders.setup(app)
    tracking.setup(app)
    charts.setup(app, services.links)
    if services.demo:
        from orderbot.sandbox import routes as demo_page

        demo_page.setup(app)
    if settings.dingtalk_app_secret:
        dingtalk.setup(
            app,
            dingtalk.DingTalkInbound(
                settings.dingtalk_app_secret.get_secret_value(),
                settings.dingtalk_app_key,
                services.pipeline,
                staff_ids=lambda: frozenset(s.dingtalk_userid for s in app[CONFIG].staff if s.dingtalk_userid),
                api_base=settings.dingtalk_api_base,
            ),
        )
    if settings.wecom_token and settings.wecom_encoding_aes_key and settings.wecom_corp_id:
        token = settings.wecom_token.get_secret_value()
        crypto = wecom.WeChatCrypto(token, settings.wecom_encoding_aes_key.get_secret_value(), settings.wecom_corp_id)
        wecom.setup(
            app, wecom.WeComInbound(token, crypto, settings.wecom_corp_id, settings.wecom_agent_id, services.pipeline)
        )
    if bootstrap.aibot_mode(settings) == "callback":
        crypto = AibotCrypto(
            settings.wecom_aibot_token.get_secret_value(), settings.wecom_aibot_encoding_aes_key.get_secret_value()
        )
        wecom_aibot.setup(
            app,
            wecom_aibot.AibotInbound(
                crypto,
                services.pipeline,
                services.streams,
                bot_id=settings.wecom_aibot_id,
                bot_name=settings.wecom_aibot_name,
            ),
        )
    return app
