"""The composition root: one function builds the object graph that the web app, every CLI command and every job
use (cosmicpython's `bootstrap()`).

`build(settings, config, …)` returns `Services`: the database, clock, senders, outbox worker, dispatcher, inbox
pipeline, rules runner, chart renderer and weather source, wired once. Overrides replace a part at the edges
(a manual clock, a database on another URL, a recording handler, fake senders, a shared intent parser), so tests
build the same graph instead of patching module globals. Nothing is opened at build time: `start()` opens what
needs an event loop (the HTTP client, the parser over the database's vocabulary, the CJK font) and, for the
server, starts the outbox worker and the inbox resumer; `close()` stops the inbox pipeline, the worker and the
resumer and releases the rest. `create_app` calls them once, from its `cleanup_ctx`; a CLI command around its
work.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp

from orderbot.adapters.weather import DemoWeather, from_settings
from orderbot.bot.aibot import AibotEvents
from orderbot.bot.alerting import RulesRunner
from orderbot.bot.charts import chart_executor, ensure_cjk_font, render_async
from orderbot.bot.dispatch import Dispatcher
from orderbot.bot.handlers.courier import run_courier_batch
from orderbot.messaging.reply import Reply
from orderbot.config import BusinessConfig, load_config
from orderbot.core import outbox
from orderbot.core.clock import Clock, system_clock
from orderbot.db.engine import Database, set_sqlite_driver
from orderbot.jobs.scheduler import JobSpec
from orderbot.jobs.standard import standard_jobs
from orderbot.messaging.addresses import Addresses
from orderbot.messaging.aibot_streams import StreamStore
from orderbot.messaging.deadletters import DeadLetterNotices
from orderbot.messaging.links import MediaLinks
from orderbot.messaging.pipeline import Handler, InboundPipeline
from orderbot.messaging.senders.base import Sender
from orderbot.messaging.senders.dingtalk import DingTalkApi, DingTalkSender
from orderbot.messaging.senders.email import EmailSender
from orderbot.messaging.senders.sandbox import SandboxSender
from orderbot.messaging.senders.wechat_mp import WeChatMpApi, WeChatMpSender
from orderbot.messaging.senders.wecom import WeComApi, WeComAppSender, WeComRobotSender
from orderbot.messaging.senders.wecom_aibot import AibotSender
from orderbot.messaging.worker import OutboxWorker, PlatformAlerts
from orderbot.settings import Settings
from orderbot.webhooks.aibot_ws import AibotWsClient

log = logging.getLogger("orderbot.bootstrap")
RESUME_EVERY = 30.0  # seconds between passes of the inbox resumer
STOP_WAIT = 10.0  # seconds a rule evaluation, or the outbox worker's pass, may take to finish at shutdown


async def resume_forever(pipeline: InboundPipeline, stop: asyncio.Event, every: float = RESUME_EVERY) -> None:
    """Process inbox rows a crash left unprocessed: at start-up, then every `every` seconds (rows older than that,
    so events being processed right now are not touched)."""
    await pipeline.resume()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            await pipeline.resume(older_than=timedelta(seconds=every))


class LazyHttp:
    """The shared aiohttp client session, opened by `Services.start()` (never at import or build time)."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    def __getattr__(self, name):
        if self.session is None:
            raise RuntimeError("HTTP client used before the services started")
        return getattr(self.session, name)


def media_links(settings: Settings) -> MediaLinks:
    """Chart links are signed with a key derived from ORDERBOT_LABEL_SECRET; without one, a key per process
    (links then stop working after a restart, which is acceptable only for development)."""
    secret = settings.label_secret.get_secret_value().encode() if settings.label_secret else secrets.token_bytes(32)
    return MediaLinks(settings.public_url, secret)


def build_senders(
    settings: Settings,
    config: BusinessConfig,
    http,
    clock: Clock,
    db: Database,
    links: MediaLinks,
    *,
    demo: bool = False,
) -> dict[str, Sender]:
    """The configured channels. The sandbox exists only in the demo: in `serve`, what no platform reaches is
    dead with its reason, never "sent" to a sandbox nobody reads."""
    senders: dict[str, Sender] = {"sandbox": SandboxSender(clock)} if demo else {}
    senders["wecom_robot"] = WeComRobotSender(http, settings.wecom_api_base)
    if wecom_app_configured(settings):
        api = WeComApi(
            http,
            base=settings.wecom_api_base,
            corp_id=settings.wecom_corp_id,
            secret=settings.wecom_secret.get_secret_value(),
            agent_id=settings.wecom_agent_id,
        )
        senders["wecom"] = WeComAppSender(api)
    ding_api = None
    if settings.dingtalk_app_key and settings.dingtalk_app_secret:
        ding_api = DingTalkApi(
            http,
            base=settings.dingtalk_api_base,
            app_key=settings.dingtalk_app_key,
            app_secret=settings.dingtalk_app_secret.get_secret_value(),
        )
    senders["dingtalk"] = DingTalkSender(http, ding_api, db, links, clock)
    email = EmailSender(settings.smtp_url.get_secret_value()) if settings.smtp_url else None
    if email is not None:
        senders["email"] = email
    if settings.wechat_mp_app_id and settings.wechat_mp_secret:
        mp = WeChatMpApi(
            http,
            base=settings.wechat_mp_api_base,
            app_id=settings.wechat_mp_app_id,
            secret=settings.wechat_mp_secret.get_secret_value(),
        )
        senders["wechat_mp"] = WeChatMpSender(mp, config.wechat_mp.templates, email)
    if aibot_mode(settings) is not None:
        hooks = {
            g.chat_id: g.webhook_key
            for g in config.groups.values()
            if g.platform == "wecom_aibot" and g.chat_id and g.webhook_key
        }
        senders["wecom_aibot"] = AibotSender(
            http,
            mode=aibot_mode(settings),
            fallback=senders["wecom_robot"],
            group_webhooks=hooks,
            app=senders.get("wecom"),  # files 1:1 in callback mode
            api_base=settings.wecom_api_base,
            clock=clock,
        )
    return senders


def aibot_mode(settings: Settings) -> str | None:
    """The WeCom AI bot's mode when its credentials for that mode are set, else None (no AI bot)."""
    if settings.wecom_aibot_mode == "ws":
        return "ws" if settings.wecom_aibot_id and settings.wecom_aibot_secret else None
    return "callback" if settings.wecom_aibot_token and settings.wecom_aibot_encoding_aes_key else None


def wecom_app_configured(settings: Settings) -> bool:
    return bool(settings.wecom_corp_id and settings.wecom_secret and settings.wecom_agent_id is not None)


def staff_chat_channels(settings: Settings) -> list[str]:
    """The chat channels that can reach a staff member 1:1 without a prior message from them, in the order
    `Addresses.staff` prefers them: the WeCom app, the AI bot's long connection (callback mode cannot push),
    DingTalk with app credentials (its sender exists for session-webhook replies even without them)."""
    ways = ["wecom"] if wecom_app_configured(settings) else []
    if aibot_mode(settings) == "ws":
        ways.append("wecom_aibot")
    if settings.dingtalk_app_key and settings.dingtalk_app_secret:
        ways.append("dingtalk")
    return ways


def reachable_channels(settings: Settings, senders: dict[str, Sender]) -> set[str]:
    """Channels that can reach a person without a prior message from them."""
    return {c for c in ("wechat_mp", "email", "sandbox") if c in senders} | set(staff_chat_channels(settings))


async def build_parser(db: Database, settings: Settings):
    """The intent parser over the master data (customers, products, staff); jieba loads in a thread."""
    from orderbot.bot.intents import IntentParser, load_vocabulary

    async with db.read(heavy=True) as session:  # every customer's name: ~170 ms at a million orders
        vocabulary = await load_vocabulary(session)
    return await asyncio.to_thread(IntentParser, vocabulary, cache_dir=settings.cache_dir / "jieba")


@dataclass
class Services:
    """Everything the entry points share, built once by `build()`."""

    settings: Settings
    config: BusinessConfig
    clock: Clock
    db: Database
    http: LazyHttp
    links: MediaLinks
    senders: dict[str, Sender]
    alerts: PlatformAlerts
    worker: OutboxWorker
    addresses: Addresses
    executor: Executor
    charts: Callable[..., Awaitable[bytes]]
    dispatcher: Dispatcher | None
    pipeline: InboundPipeline
    rules: RulesRunner
    weather: Any
    streams: StreamStore
    aibot_ws: AibotWsClient | None = None
    owns_db: bool = False
    parser: Any = None
    demo: bool = False
    _started: bool = field(default=False, repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _worker_task: asyncio.Task | None = field(default=None, repr=False)
    _resume_task: asyncio.Task | None = field(default=None, repr=False)

    async def start(self, *, parser: bool = True, background: bool = False) -> None:
        """Open what needs the event loop: the HTTP client, the CJK chart font and the intent parser.
        `background` (the server) also starts the outbox worker and the inbox resumer."""
        if self.dispatcher is not None and parser:
            await asyncio.to_thread(ensure_cjk_font, None, cache_dir=self.settings.cache_dir / "matplotlib")
            self.dispatcher.parser = self.parser or await build_parser(self.db, self.settings)
        self.http.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        self._started = True
        if background:
            self._stop = stop = asyncio.Event()
            self._worker_task = asyncio.create_task(self.worker.run_forever(stop))
            self._resume_task = asyncio.create_task(resume_forever(self.pipeline, stop))

    async def close(self) -> None:
        """Stop in order: the inbox pipeline takes no more events and finishes those under way (what it does not
        finish stays in the inbox for the next start); a running rule evaluation finishes its transaction; the
        resumer stops; the outbox worker finishes its pass; then the HTTP client, the chart processes and an
        own database close. Call once, after the doors have drained their own work."""
        await self.pipeline.close()
        if self._stop is not None:
            self._stop.set()
        try:  # let an event-triggered rule evaluation finish its transaction
            await asyncio.wait_for(self.rules.idle(), timeout=STOP_WAIT)
        except TimeoutError:
            log.warning("a rule evaluation was still running at shutdown")
        if self._resume_task is not None:
            self._resume_task.cancel()
            await asyncio.gather(self._resume_task, return_exceptions=True)
        if self._worker_task is not None:  # let the current pass finish its transaction, then stop
            try:
                await asyncio.wait_for(asyncio.shield(self._worker_task), timeout=STOP_WAIT)
            except TimeoutError:
                self._worker_task.cancel()
                await asyncio.gather(self._worker_task, return_exceptions=True)
        if self.http.session is not None:
            await self.http.session.close()
        self.executor.shutdown(wait=True)
        if self.owns_db:
            await self.db.dispose()

    def jobs(self, *, run_worker: bool = True) -> list[JobSpec]:
        """The scheduler's standard jobs, each calling its use case with these services."""
        rules, weather, worker = self.rules, self.weather, self.worker

        async def rules_job(now):
            return {o.rule: o.outcome for o in await rules.evaluate(now=now)}

        async def courier_job(now):
            await run_courier_batch(self.db, self.config, weather, now, addresses=self.addresses)
            worker.wake.set()

        return standard_jobs(
            self.config,
            db=self.db,
            charts=self.charts,
            addresses=self.addresses,
            worker=worker if run_worker else None,
            rules=rules_job,
            courier=courier_job,
        )


def _admin_notice(db: Database, clock: Clock, admins: list[str]):
    """How a platform problem (e.g. 60020, an untrusted IP) reaches the admins: an email each, through the outbox."""

    async def tell_admins(channel: str, message: str) -> None:
        async with db.write() as session:
            for address in admins:
                await outbox.enqueue(
                    session,
                    channel="email",
                    destination=f"email:{address}",
                    kind="reply",
                    payload=Reply(title=f"OrderBot：{channel} 渠道需要处理", text=message).to_dict(),
                    now=clock(),
                )

    return tell_admins


def build(
    settings: Settings,
    config: BusinessConfig | None = None,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    handler: Handler | None = None,
    senders: dict[str, Sender] | None = None,
    parser=None,
    demo: bool = False,
) -> Services:
    """The object graph. `handler` replaces the dispatcher (transport tests pass a recorder); `parser` lets
    tests share one intent parser; `senders` replaces the platform senders; `demo` adds the demo weather."""
    set_sqlite_driver(settings.sqlite_driver)
    config = config if config is not None else load_config(settings.config_path)
    clock = clock or system_clock
    owns_db = db is None
    db = db if db is not None else Database.from_url(settings.database_url)
    http = LazyHttp()
    links = media_links(settings)
    senders = senders if senders is not None else build_senders(settings, config, http, clock, db, links, demo=demo)
    alerts = PlatformAlerts()
    worker = OutboxWorker(
        db,
        senders,
        clock,
        alerts=alerts,
        retry_window=timedelta(hours=settings.outbox_retry_window_hours),
        dead_letters=DeadLetterNotices(db, clock, reachable_channels(settings, senders)),
    )
    admins = [s.email for s in config.staff if s.email and {"admin", "management"} & set(s.roles)]
    if "email" in senders and admins:
        alerts.notify = _admin_notice(db, clock, admins)
    addresses = Addresses(reachable_channels(settings, senders))
    executor = chart_executor()
    charts = functools.partial(render_async, executor=executor)
    dispatcher = None
    if handler is None:
        dispatcher = Dispatcher(
            db,
            None,
            config,
            clock,
            charts=charts,
            addresses=addresses,
            label_secret=settings.label_secret.get_secret_value() if settings.label_secret else None,
        )
    aibot = senders.get("wecom_aibot")
    pipeline = InboundPipeline(
        db,
        AibotEvents(handler or dispatcher),
        clock,
        on_commit=worker.wake.set,
        split_files={"wecom_aibot": aibot.split_files} if isinstance(aibot, AibotSender) else None,
    )
    streams = aibot.streams if isinstance(aibot, AibotSender) else StreamStore()
    aibot_ws = None
    if aibot_mode(settings) == "ws":
        aibot_ws = AibotWsClient(
            url=settings.wecom_aibot_ws_url,
            bot_id=settings.wecom_aibot_id,
            secret=settings.wecom_aibot_secret.get_secret_value(),
            pipeline=pipeline,
            http=http,
            clock=clock,
            bot_name=settings.wecom_aibot_name,
            alerts=alerts,
        )
        if isinstance(aibot, AibotSender):
            aibot.ws, aibot_ws.sender = aibot_ws, aibot
    rules = RulesRunner(db, config, clock, addresses=addresses, charts=charts, on_commit=worker.wake.set)
    weather = from_settings(settings, http) or (DemoWeather() if demo else None)
    return Services(
        settings=settings,
        config=config,
        clock=clock,
        db=db,
        http=http,
        links=links,
        senders=senders,
        alerts=alerts,
        worker=worker,
        addresses=addresses,
        executor=executor,
        charts=charts,
        dispatcher=dispatcher,
        pipeline=pipeline,
        rules=rules,
        weather=weather,
        streams=streams,
        aibot_ws=aibot_ws,
        owns_db=owns_db,
        parser=parser,
        demo=demo,
    )
