"""The web app factory: the services from `bootstrap.build`, under typed app keys, with the routes.

`create_app(settings, **overrides)` builds the same graph for `serve`, `demo` and the tests (the overrides are
`bootstrap.build`'s); resources open and close in one `cleanup_ctx`; every background task is tracked and
cancelled on shutdown.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import timedelta

from aiohttp import web

from orderbot import bootstrap
from orderbot.config import BusinessConfig
from orderbot.core.clock import Clock
from orderbot.db.engine import Database, sqlite_path
from orderbot.jobs.scheduler import attach as attach_scheduler
from orderbot.messaging.pipeline import Handler, InboundPipeline
from orderbot.messaging.senders.base import Sender
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


async def _resume_forever(pipeline: InboundPipeline, stop: asyncio.Event, every: float = 30.0) -> None:
    """Process inbox rows a crash left unprocessed: at start-up, then every half minute (rows older than that,
    so events being processed right now are not touched)."""
    await pipeline.resume()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            await pipeline.resume(older_than=timedelta(seconds=every))


def create_app(
    settings: Settings,
    *,
    config: BusinessConfig | None = None,
    db: Database | None = None,
    clock: Clock | None = None,
    handler: Handler | None = None,
    senders: dict[str, Sender] | None = None,
    run_worker: bool = True,
    parser=None,
    demo: bool = False,
    run_scheduler: bool = False,
) -> web.Application:
    """The web app over `bootstrap.build(...)` (same overrides). `run_worker` runs the outbox worker and the
    inbox resumer; `run_scheduler` (serve, demo) runs the standard jobs behind the lease; `demo` adds the
    sandbox page."""
    services = bootstrap.build(
        settings, config, db=db, clock=clock, handler=handler, senders=senders, parser=parser, demo=demo
    )
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[request_context, database_file_guard])
    app[SETTINGS] = settings
    app[CONFIG] = services.config
    app[CLOCK] = services.clock
    app[METRICS] = Metrics()
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
        await services.start()
        # What start-up built (the intent parser's dictionaries, SQLAlchemy's mappers, config) lives for the whole
        # process: keep it out of the collector's full passes, which otherwise stall the loop for tens of ms.
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        worker_task = asyncio.create_task(services.worker.run_forever(stop)) if run_worker else None
        resume_task = asyncio.create_task(_resume_forever(services.pipeline, stop)) if run_worker else None
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
        stop.set()
        try:  # let an event-triggered rule evaluation finish its transaction
            await asyncio.wait_for(rules.idle(), timeout=10)
        except TimeoutError:
            log.warning("a rule evaluation was still running at shutdown")
        if resume_task is not None:
            resume_task.cancel()
            await asyncio.gather(resume_task, return_exceptions=True)
        if worker_task is not None:  # let the current pass finish its transaction, then stop
            try:
                await asyncio.wait_for(asyncio.shield(worker_task), timeout=10)
            except TimeoutError:
                worker_task.cancel()
                await asyncio.gather(worker_task, return_exceptions=True)
        await services.close()
        gc.unfreeze()

    app.cleanup_ctx.append(_resources)
    if run_scheduler:  # `serve` and `demo`; app tests build apps without one
        attach_scheduler(app, services.jobs(run_worker=run_worker))
    health.setup(app)
    dbfile.setup(app, sqlite_path(services.db.engine.url))
    orders.setup(app)
    tracking.setup(app)
    charts.setup(app, services.links)
    if demo:
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
