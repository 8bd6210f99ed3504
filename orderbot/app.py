"""The composition root: settings, business config, database, clock, channels, pipeline and web app.

`create_app(settings, **overrides)` builds the same graph for `serve`, `demo` and the tests; tests pass fakes at
the edges (a manual clock, a database on another URL, a handler, a sender) instead of patching module globals.
Resources open and close in `cleanup_ctx`; every background task is tracked and cancelled on shutdown.
"""
from __future__ import annotations

import asyncio
import gc
import functools
import logging
from datetime import timedelta
import secrets

import aiohttp
from aiohttp import web

from orderbot.messaging.senders.base import Sender
from orderbot.messaging.senders.dingtalk import DingTalkApi, DingTalkSender
from orderbot.messaging.senders.email import EmailSender
from orderbot.messaging.links import MediaLinks
from orderbot.messaging.senders.wechat_mp import WeChatMpApi, WeChatMpSender
from orderbot.messaging.senders.sandbox import SandboxSender
from orderbot.messaging.senders.wecom import WeComApi, WeComAppSender, WeComRobotSender
from orderbot.messaging.worker import OutboxWorker, PlatformAlerts
from orderbot.bot.charts import chart_executor, ensure_cjk_font, render_async
from orderbot.messaging.addresses import Addresses
from orderbot.bot.alerting import RulesRunner
from orderbot.bot.handlers.courier import run_courier_batch
from orderbot.bot.dispatch import Dispatcher
from orderbot.messaging.pipeline import Handler, InboundPipeline
from orderbot.bot.reply import Reply
from orderbot.jobs.standard import standard_jobs
from orderbot.jobs.scheduler import attach as attach_scheduler
from orderbot.adapters.weather import DemoWeather, from_settings
from orderbot.config import BusinessConfig, load_config
from orderbot.core import outbox
from orderbot.core.clock import Clock, system_clock
from orderbot.db.engine import Database, sqlite_path
from orderbot.settings import Settings
from orderbot.webhooks import charts, dbfile, dingtalk, health, orders, tracking, wecom
from orderbot.webhooks.dbfile import database_file_guard
from orderbot.webhooks.dingtalk_stream import StreamRunner
from orderbot.webhooks.common import (
    ALERTS, CLOCK, CONFIG, DB, METRICS, PIPELINE, RULES, RULES_HOOK, SENDERS, SETTINGS, WEATHER, WORKER, Metrics,
    request_context,
)


class LazyHttp:
    """The shared aiohttp client session, opened with the app (never at import time)."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    def __getattr__(self, name):
        if self.session is None:
            raise RuntimeError("HTTP client used before the app started")
        return getattr(self.session, name)


log = logging.getLogger("orderbot.app")

def media_links(settings: Settings) -> MediaLinks:
    """Chart links are signed with a key derived from ORDERBOT_LABEL_SECRET; without one, a key per process
    (links then stop working after a restart, which is acceptable only for development)."""
    secret = settings.label_secret.get_secret_value().encode() if settings.label_secret else secrets.token_bytes(32)
    return MediaLinks(settings.public_url, secret)


def build_senders(settings: Settings, config: BusinessConfig, http, clock: Clock, db: Database,
                  links: MediaLinks) -> dict[str, Sender]:
    senders: dict[str, Sender] = {"sandbox": SandboxSender(clock)}
    senders["wecom_robot"] = WeComRobotSender(http, settings.wecom_api_base)
    if settings.wecom_corp_id and settings.wecom_secret and settings.wecom_agent_id is not None:
        api = WeComApi(http, base=settings.wecom_api_base, corp_id=settings.wecom_corp_id,
                       secret=settings.wecom_secret.get_secret_value(), agent_id=settings.wecom_agent_id)
        senders["wecom"] = WeComAppSender(api)
    ding_api = None
    if settings.dingtalk_app_key and settings.dingtalk_app_secret:
        ding_api = DingTalkApi(http, base=settings.dingtalk_api_base, app_key=settings.dingtalk_app_key,
                               app_secret=settings.dingtalk_app_secret.get_secret_value())
    senders["dingtalk"] = DingTalkSender(http, ding_api, db, links, clock)
    email = EmailSender(settings.smtp_url.get_secret_value()) if settings.smtp_url else None
    if email is not None:
        senders["email"] = email
    if settings.wechat_mp_app_id and settings.wechat_mp_secret:
        mp = WeChatMpApi(http, base=settings.wechat_mp_api_base, app_id=settings.wechat_mp_app_id,
                         secret=settings.wechat_mp_secret.get_secret_value())
        senders["wechat_mp"] = WeChatMpSender(mp, config.wechat_mp.templates, email)
    return senders


def reachable_channels(settings: Settings, senders: dict[str, Sender]) -> set[str]:
    """Channels that can reach a person without a prior message from them (the DingTalk sender exists for
    session-webhook replies even without app credentials)."""
    channels = {c for c in ("wecom", "wechat_mp", "email") if c in senders}
    if settings.dingtalk_app_key and settings.dingtalk_app_secret:
        channels.add("dingtalk")
    return channels


async def build_parser(db: Database, settings: Settings):
    """The intent parser over the master data (customers, products, staff); jieba loads in a thread."""
    from orderbot.bot.intents import IntentParser, load_vocabulary

    async with db.read() as session:
        vocabulary = await load_vocabulary(session)
    return await asyncio.to_thread(IntentParser, vocabulary, cache_dir=settings.cache_dir / "jieba")


async def _resume_forever(pipeline: InboundPipeline, stop: asyncio.Event, every: float = 30.0) -> None:
    """Process inbox rows a crash left unprocessed: at start-up, then every half minute (rows older than that,
    so events being processed right now are not touched)."""
    await pipeline.resume()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            await pipeline.resume(older_than=timedelta(seconds=every))


def create_app(settings: Settings, *, config: BusinessConfig | None = None, db: Database | None = None,
               clock: Clock | None = None, handler: Handler | None = None,
               senders: dict[str, Sender] | None = None, run_worker: bool = True,
               parser=None, demo: bool = False, run_scheduler: bool = False) -> web.Application:
    """`handler` replaces the dispatcher (`parser` lets tests share one intent parser) (tests of the transport pass a recorder); by default the app builds
    the intent parser and chart renderer at start-up and answers with the real handlers."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[request_context, database_file_guard])
    app[SETTINGS] = settings
    app[CONFIG] = config if config is not None else load_config(settings.config_path)
    app[CLOCK] = clock = clock or system_clock
    app[METRICS] = Metrics()
    app[ALERTS] = alerts = PlatformAlerts()
    owns_db = db is None
    app[DB] = db = db if db is not None else Database.from_url(settings.database_url)
    http = LazyHttp()
    links = media_links(settings)
    app[SENDERS] = senders if senders is not None else build_senders(settings, app[CONFIG], http, clock, db, links)
    app[WORKER] = OutboxWorker(db, app[SENDERS], clock, alerts=alerts)
    admins = [s.email for s in app[CONFIG].staff if s.email and {"admin", "management"} & set(s.roles)]
    if "email" in app[SENDERS] and admins:
        async def tell_admins(channel: str, message: str) -> None:
            async with db.write() as session:
                for address in admins:
                    await outbox.enqueue(session, channel="email", destination=f"email:{address}", kind="reply",
                                         payload=Reply(title=f"OrderBot：{channel} 渠道需要处理",
                                                       text=message).to_dict(), now=clock())

        alerts.notify = tell_admins
    executor = chart_executor()
    renderer = functools.partial(render_async, executor=executor)
    dispatcher = None
    if handler is None:
        dispatcher = Dispatcher(db, None, app[CONFIG], clock, charts=renderer,
                                addresses=Addresses(reachable_channels(settings, app[SENDERS])),
                                label_secret=settings.label_secret.get_secret_value() if settings.label_secret else None)
    app[PIPELINE] = InboundPipeline(db, handler or dispatcher, clock, on_commit=app[WORKER].wake.set)
    app[RULES] = rules = RulesRunner(db, app[CONFIG], clock,
                                     addresses=Addresses(reachable_channels(settings, app[SENDERS])),
                                     charts=renderer, on_commit=app[WORKER].wake.set)
    app[RULES_HOOK] = rules.hook

    async def _resources(app: web.Application):
        if dispatcher is not None:
            await asyncio.to_thread(ensure_cjk_font, None, cache_dir=settings.cache_dir / "matplotlib")
            dispatcher.parser = parser or await build_parser(db, settings)
        # What start-up built (the intent parser's dictionaries, SQLAlchemy's mappers, config) lives for the whole
        # process: keep it out of the collector's full passes, which otherwise stall the loop for tens of ms.
        gc.collect()
        gc.freeze()
        http.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        stop = asyncio.Event()
        worker_task = asyncio.create_task(app[WORKER].run_forever(stop)) if run_worker else None
        resume_task = asyncio.create_task(_resume_forever(app[PIPELINE], stop)) if run_worker else None
        stream = None
        if settings.dingtalk_mode == "stream" and settings.dingtalk_app_key and settings.dingtalk_app_secret:
            stream = StreamRunner(app_key=settings.dingtalk_app_key,
                                  app_secret=settings.dingtalk_app_secret.get_secret_value(),
                                  api_base=settings.dingtalk_api_base, pipeline=app[PIPELINE])
            stream.start(asyncio.get_running_loop())
        yield
        if stream is not None:
            await stream.stop()
        stop.set()
        try:  # let an event-triggered rule evaluation finish its transaction
            await asyncio.wait_for(rules.idle(), timeout=10)
        except TimeoutError:
            log.warning("a rule evaluation was still running at shutdown")
        for task in (resume_task,):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if worker_task is not None:  # let the current pass finish its transaction, then stop
            try:
                await asyncio.wait_for(asyncio.shield(worker_task), timeout=10)
            except TimeoutError:
                worker_task.cancel()
                await asyncio.gather(worker_task, return_exceptions=True)
        await http.session.close()
        executor.shutdown(wait=True)
        gc.unfreeze()
        if owns_db:
            await db.dispose()

    app.cleanup_ctx.append(_resources)
    app[WEATHER] = weather = from_settings(settings, http) or (DemoWeather() if demo else None)
    if run_scheduler:  # `serve` and `demo`; app tests build apps without one
        addresses = Addresses(reachable_channels(settings, app[SENDERS]))

        async def rules_job(now):
            return {o.rule: o.outcome for o in await rules.evaluate(now=now)}

        async def courier_job(now):
            await run_courier_batch(db, app[CONFIG], weather, now, addresses=addresses)
            app[WORKER].wake.set()

        attach_scheduler(app, standard_jobs(
            app[CONFIG], db=db, charts=renderer, addresses=addresses, worker=app[WORKER] if run_worker else None,
            rules=rules_job, courier=courier_job))
    health.setup(app)
    dbfile.setup(app, sqlite_path(db.engine.url))
    orders.setup(app)
    tracking.setup(app)
    charts.setup(app, links)
    if demo:
        from orderbot.sandbox import routes as demo_page

        demo_page.setup(app)
    if settings.dingtalk_app_secret:
        dingtalk.setup(app, dingtalk.DingTalkInbound(
            settings.dingtalk_app_secret.get_secret_value(), settings.dingtalk_app_key, app[PIPELINE],
            staff_ids=lambda: frozenset(s.dingtalk_userid for s in app[CONFIG].staff if s.dingtalk_userid),
            api_base=settings.dingtalk_api_base))
    if settings.wecom_token and settings.wecom_encoding_aes_key and settings.wecom_corp_id:
        token = settings.wecom_token.get_secret_value()
        crypto = wecom.WeChatCrypto(token, settings.wecom_encoding_aes_key.get_secret_value(), settings.wecom_corp_id)
        wecom.setup(app, wecom.WeComInbound(token, crypto, settings.wecom_corp_id, settings.wecom_agent_id,
                                            app[PIPELINE]))
    return app
