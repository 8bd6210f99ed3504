"""The sandbox (`orderbot demo` only): a WeCom-like chat page at `/` and its JSON routes under `/sandbox/`.

The sandbox is one more chat platform. What a person types, scans or clicks on the page becomes the same inbound
values the WeCom callback builds (`ChatMessage`, `ScanEvent` with the scanner's `QR_CODE,` prefix, `CardAction`)
with `Origin("sandbox", staff id, group key or None, reply_channel="sandbox", reply_to=<conversation>)` and a
dedupe key made of the page's own message id; the pipeline stores, dedupes and processes them, the dispatcher
answers, and replies, alerts and customer notices reach the page only through the outbox and the sandbox sender
(`app[SENDERS]["sandbox"]`), whose numbered log the page polls. The page holds no business logic: the few read
models it shows (packages at the packing station, the cockpit) are read in `sandbox/readmodel.py` (the routes
run no SQL), and the clock and weather controls only move the demo's `OffsetClock`, run the scheduler's due jobs
and flip the `DemoWeather`.

| route | does |
|---|---|
| `GET /` | the page (server-rendered; `?as=<staff id>` opens it as that person) |
| `GET /sandbox/state` | people, groups (and which are AI-bot groups), the demo customer, clock, weather |
| `GET /sandbox/feed?after=N` | conversation log entries with id > N (inbound echoes and sent messages) |
| `GET /sandbox/media/{id}/{n}` | a chart image (`.png`) or an attached file of a sent message |
| `POST /sandbox/message` | `{user, conv, text, msg_id}`: a chat message, answered through the outbox |
| `POST /sandbox/card` | `{user, conv, key, text, task_id, msg_id}`: a card button click |
| `POST /sandbox/scan` | `{user, label, msg_id, station}`: a scan as WeCom's `scancode_push`; returns the answer too |
| `GET /sandbox/packages` | packages waiting at the packing station, with their labels (good, wrong SKU, damaged) |
| `GET /sandbox/cockpit` | orders by stage, delay TOP5 reasons, alerts firing, paused batches, frozen |
| `POST /sandbox/clock` | `{jump: hour/day/morning/courier}`: fast-forward three hours at a time;
  in each step the demo company works (orders, payments, scans, tracking, returns), then the due jobs run |
| `POST /sandbox/weather` | `{alert: true/false}`: raise or clear the demo's red weather alert |
| `POST /sandbox/wecom/cgi-bin/webhook/send` | the demo's fake 消息推送 webhook (sandbox/aibot.py) |
| `POST /sandbox/wecom/cgi-bin/aibot/response` | the demo's fake response_url (sandbox/aibot.py) |

A group of the business config with `platform = "wecom_aibot"` is a WeCom group served by the AI bot: its
messages and card clicks go to the demo's fake WeCom (`sandbox/aibot.py`), which calls the real AI-bot door, and
the page draws the JSON the bot answered with. Such groups show only when the demo runs the AI bot (callback mode,
which `orderbot demo` always sets up).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from orderbot.messaging.markup import plain
from orderbot.messaging.text import reply_plain
from orderbot.bot.handlers.alerts import ROLE_NAMES
from orderbot.messaging.inbound import CardAction, ChatMessage, Origin, ScanEvent
from orderbot.core.channels import channel_name
from orderbot.core.orders.states import STAGE_NAMES
from orderbot.core.reports.delays import delay_reasons
from orderbot.core.reports.pipeline import pipeline as stage_counts
from orderbot.core.rules.builtins import RULES
from orderbot.core.warehouse.labels import label_text
from orderbot.sandbox import readmodel
from orderbot.sandbox.aibot import PREFIX, FakeWeCom, PlatformTrouble, images
from orderbot.sandbox.clock import OffsetClock, next_local, step_jobs
from orderbot.webhooks.aibot_crypto import AibotCrypto
from orderbot.adapters.weather import DemoWeather
from orderbot.webhooks.common import (
    CLOCK,
    CONFIG,
    DB,
    PIPELINE,
    SENDERS,
    SETTINGS,
    WEATHER,
    WORKER,
    TaskTracker,
    drain_at_shutdown,
    json_body,
    json_error,
    json_ok,
)

log = logging.getLogger("orderbot.sandbox")
STATIC = Path(__file__).with_name("static")
SCAN_DEADLINE = 10.0  # seconds the scanner panel waits for the answer before saying it is on its way
MAX_TEXT = 2000
STATION = "sandbox-pack-1"  # the scanner menu's key, as a WeCom scanner button would send it

# Who sits in which group chat. Real groups have their own members; the demo seats people by role, so every
# group has someone who may press its cards' buttons (see README, "The sandbox").
GROUP_ROLES: dict[str, tuple[str, ...]] = {
    "customs": ("customs", "logistics", "customer_service", "management"),
    "warehouse": ("warehouse", "warehouse_lead", "logistics", "management"),
    "management": (
        "management",
        "sales_director",
        "sales_supervisor",
        "channel_ops",
        "finance",
        "after_sales_supervisor",
        "key_account",
    ),
    "product": ("product", "channel_ops", "management"),
    # the AI bot's group (example config: platform = "wecom_aibot"); channel ops sit in it for the channel cards
    "sales": ("sales", "sales_supervisor", "sales_director", "key_account", "channel_ops", "management"),
}
# What to try first, per role (the first of a person's roles that has examples); {order} is a live order number.
EXAMPLES = {
    "sales": ["查看华东区昨日延迟TOP3客户", "近30天订单趋势", "查单 {order}"],
    "sales_supervisor": ["查看华东区昨日延迟TOP3客户", "发一下昨天的日报", "{order} 预计交付改为{eta}"],
    "sales_director": ["延迟原因TOP5", "现在订单都卡在哪", "发一下昨天的日报"],
    "management": ["现在订单都卡在哪", "延迟原因TOP5", "发一下昨天的日报"],
    "customer_service": ["查单 {order}", "现在订单都卡在哪", "帮助"],
    "customs": ["{order} 卡关", "{order} 解除卡关", "帮助"],
    "warehouse": ["我今天的扫码准确率", "PB-20K-BLK 库存", "帮助"],
    "warehouse_lead": ["仓库本周扫码统计", "今天值班组长改为赵强", "帮助"],
    "finance": ["发一下昨天的日报", "本月取消率走势", "查单 {order}"],
    "channel_ops": ["冻结TikTok渠道", "静默取消率告警2小时", "近30天订单趋势"],
    "logistics": ["延迟原因TOP5", "如果明天突然涌入5000单，哪3个SKU会在48小时内断货", "申请面单 {order}"],
    "product": ["本月取消率走势", "帮助"],
}
JOB_NAMES = {
    "rules": "告警规则检查",
    "courier": "快递交接批次",
    "daily_report": "日报推送",
    "my_customers": "我的客户晨报",
    "tracking_stale": "物流轨迹巡检",
    "outbox": "消息发送",
    "media_purge": "过期图片清理",
    "task_reminders": "待办逾期提醒",
    "performance_sheet": "月度绩效考核表",
}
WEEKDAYS = "一二三四五六日"
STEP = timedelta(hours=3)  # a jump moves the clock, the company and the jobs forward three hours at a time
PAUSE_REASONS = {"weather": "红色天气预警", "manual": "人工暂停"}


@dataclass
class Sandbox:
    """The page's own state: the demo customer and a live order number (picked once), work in flight, and the
    lock that keeps clock jumps one at a time."""

    epoch: str = field(default_factory=lambda: secrets.token_hex(4))  # changes when the server restarts
    background: TaskTracker = field(default_factory=lambda: TaskTracker("sandbox"))
    jump_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    customer: dict[str, Any] | None = None
    sample_order: str | None = None
    company: Any = None  # the DemoCompany, made on the first jump


SANDBOX = web.AppKey("sandbox", Sandbox)
FAKE_WECOM = web.AppKey("sandbox_fake_wecom", FakeWeCom)


class Refused(Exception):
    """A request the page should not have sent; answered with 400 and the Chinese reason."""


def refusing(handler):
    """Turn `Refused` into `400 {"ok": false, "error": <reason>}`."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except Refused as exc:
            return json_error(400, str(exc))

    return wrapped


# --- people and conversations -----------------------------------------------------------------------------
def _groups(app: web.Application) -> dict[str, str]:
    """The groups the page shows: key → name. Sandbox groups, and AI-bot groups when the demo runs the AI bot."""
    aibot = _aibot_groups(app)
    return {k: g.name for k, g in app[CONFIG].groups.items() if g.platform == "sandbox" or k in aibot}


def _aibot_groups(app: web.Application) -> dict[str, str]:
    """AI-bot groups the demo's fake WeCom serves: key → chatid."""
    if FAKE_WECOM not in app:
        return {}
    return {k: g.chat_id for k, g in app[CONFIG].groups.items() if g.platform == "wecom_aibot" and g.chat_id}


def _wecom_id(person: Any) -> str | None:
    """The id WeCom's AI bot sends for this person (the userid, else the open_userid)."""
    return person.wecom_userid or person.wecom_open_userid


def _people(app: web.Application, sample_order: str | None) -> list[dict[str, Any]]:
    groups, aibot = _groups(app), _aibot_groups(app)
    eta = (app[CLOCK]().astimezone(ZoneInfo(app[CONFIG].timezone)) + timedelta(days=10)).date()
    out = []
    for s in app[CONFIG].staff:
        roles = set(s.roles)
        member_of = [k for k in groups if roles & set(GROUP_ROLES.get(k, ())) and (k not in aibot or _wecom_id(s))]
        examples = next((EXAMPLES[r] for r in s.roles if r in EXAMPLES), ["帮助"])
        out.append(
            {
                "id": s.id,
                "name": s.name,
                "roles": [ROLE_NAMES.get(r, r) for r in s.roles],
                "groups": member_of,
                "scanner": bool(roles & {"warehouse", "warehouse_lead"}),
                "wecom": _wecom_id(s),
                "examples": [
                    e.format(order=sample_order, eta=f"{eta.month}月{eta.day}日")
                    for e in examples
                    if sample_order or "{order}" not in e
                ],
            }
        )
    return out


def _person(app: web.Application, user: Any) -> Any:
    for s in app[CONFIG].staff:
        if s.id == user:
            return s
    raise Refused("未知的演示人员，请先在左上角选择身份")


def _conversation(app: web.Application, user: str, conv: Any) -> str | None:
    """The group key of `conv` if `user` sits in it, None for the direct chat with the bot."""
    person = _person(app, user)
    if conv in (None, "", f"user:{user}"):
        return None
    if isinstance(conv, str) and conv.startswith("group:"):
        key = conv[6:]
        if key in _groups(app) and set(person.roles) & set(GROUP_ROLES.get(key, ())):
            if key in _aibot_groups(app) and not _wecom_id(person):
                raise Refused(f"{person.name} 没有企业微信账号（wecom_userid），进不了智能机器人所在的群")
            return key
        raise Refused(f"{person.name} 不在这个群里")
    raise Refused("不认识的会话")


def _origin(user: str, group: str | None) -> Origin:
    return Origin(
        "sandbox", user, group, reply_channel="sandbox", reply_to=f"group:{group}" if group else f"user:{user}"
    )


def _msg_id(body: dict) -> str:
    msg_id = body.get("msg_id")
    if not isinstance(msg_id, str) or not 8 <= len(msg_id) <= 64:
        raise Refused("缺少消息编号 msg_id（8 到 64 个字符）")
    return msg_id


async def _body(request: web.Request) -> dict:
    body = json_body(await request.read())
    if not isinstance(body, dict):
        raise Refused("请求体应是 JSON 对象")
    return body


# --- the demo's customer and a live order number ----------------------------------------------------------
async def _prime(app: web.Application) -> Sandbox:
    """Pick the demo customer once: one with a WeChat openid whose order waits at the packing station (so a scan
    ends in their WeChat), else any with an openid; and a shipped order to look up."""
    box = app[SANDBOX]
    if box.customer is not None:
        return box
    async with app[DB].read() as s:
        customer, box.sample_order = await readmodel.demo_picks(s)
    box.customer = {"id": customer.id, "name": customer.name, "openid": customer.wechat_openid} if customer else {}
    return box


# --- read models for the page (queries in sandbox/readmodel.py) ----------------------------------------------
def _tamper(text: str) -> str:
    """The label as a scuffed print reads: the check code's last digit wrong."""
    return text[:-1] + ("0" if text[-1] != "0" else "1")


async def packages(request: web.Request) -> web.Response:
    app = request.app
    secret = app[SETTINGS].label_secret
    if secret is None:
        return json_error(409, "没有设置 ORDERBOT_LABEL_SECRET，无法生成包裹标签")
    key = secret.get_secret_value()
    box = await _prime(app)
    mine = (box.customer or {}).get("id")
    async with app[DB].read() as s:
        station = await readmodel.packing_station(s, STATION)
    totals, skus, recent = station.packages_per_order, station.skus, station.recent
    rows = sorted(station.waiting, key=lambda r: r.customer_id != mine)[:12]  # the demo customer's parcels first
    zone = ZoneInfo(app[CONFIG].timezone)

    def other_sku(sku: str) -> str:
        return skus[(skus.index(sku) + 1) % len(skus)] if sku in skus and len(skus) > 1 else sku + "-X"

    waiting = [
        {
            "order_no": r.order_no,
            "package_no": r.package_no,
            "packages": totals.get(r.order_no, 1),
            "sku": r.sku,
            "product": r.product,
            "customer": r.customer,
            "demo_customer": r.customer_id == mine,
            "stage": STAGE_NAMES.get(r.stage, r.stage),
            "hazard": " ".join(x for x in (r.hazmat_class or "", "易碎" if r.fragile else "") if x),
            "labels": {
                "good": (good := label_text(key, r.order_no, r.sku, r.batch_no, r.package_no)),
                "wrong_sku": label_text(key, r.order_no, other_sku(r.sku), r.batch_no, r.package_no),
                "damaged": _tamper(good),
            },
        }
        for r in rows
    ]
    scanned = [
        {
            "order_no": r.order_no,
            "package_no": r.package_no,
            "sku": r.sku,
            "by": r.scanned_by,
            "at": f"{r.scanned_at.astimezone(zone):%H:%M}",
            "label": label_text(key, r.order_no, r.sku, r.batch_no, r.package_no),
        }
        for r in recent
    ]
    return json_ok(waiting=waiting, scanned=scanned, station=STATION)


async def cockpit(request: web.Request) -> web.Response:
    """The order-health cockpit (订单健康度驾驶舱): all from the order record, nothing typed in by hand."""
    app = request.app
    now = app[CLOCK]()
    today = now.astimezone(ZoneInfo(app[CONFIG].timezone)).date()
    async with app[DB].read(heavy=True) as s:
        stages = await stage_counts(s, now=now, worst=1)
        causes = await delay_reasons(s, date_from=today - timedelta(days=6), date_to=today, limit=5)
        state = await readmodel.cockpit_state(s, alerts=8)
    alerts, counts, paused, frozen = state.alerts, state.counts, state.paused, state.frozen
    return json_ok(
        stages=[{"code": c.stage, "name": c.name, "orders": c.orders, "stuck": c.stuck} for c in stages],
        delays=[{"sentence": c.sentence(), "orders": c.orders, "reason": c.reason} for c in causes],
        alerts=[
            {
                "id": a.id,
                "rule": RULES[a.rule].label if a.rule in RULES else a.rule,
                "title": a.title,
                "state": a.state,
                "acked_by": a.acked_by,
            }
            for a in alerts
        ],
        firing=counts.get("firing", 0),
        acknowledged=counts.get("acknowledged", 0),
        paused=[
            {"warehouse": name.partition(":")[2], "reason": PAUSE_REASONS.get(reason or "", reason or "")}
            for name, reason in paused
        ],
        frozen=[channel_name(c) for c in frozen],
        days=7,
    )


# --- clock and weather ------------------------------------------------------------------------------------
def _company(app: web.Application):
    """The demo company at work (sandbox/company.py); None when labels cannot be printed (no label secret)."""
    from orderbot.sandbox.company import DemoCompany

    box = app[SANDBOX]
    if box.company is None:
        secret = app[SETTINGS].label_secret
        if secret is None:
            return None
        box.company = DemoCompany(app[DB], app[CONFIG], label_secret=secret.get_secret_value())
    if box.customer:  # the demo customer's parcels wait at the packing station for the visitor's scan
        box.company.spare = {box.customer["id"]}
    return box.company


def _clock_view(app: web.Application) -> dict[str, Any]:
    clock = app[CLOCK]
    local = clock().astimezone(ZoneInfo(app[CONFIG].timezone))
    offset = clock.offset if isinstance(clock, OffsetClock) else None
    return {
        "now": local.isoformat(),
        "text": f"{local:%m月%d日} 周{WEEKDAYS[local.weekday()]} {local:%H:%M}",
        "adjustable": offset is not None,
        "ahead": _ahead(offset) if offset else "",
    }


def _ahead(offset: timedelta) -> str:
    days, hours = divmod(round(offset.total_seconds() / 3600), 24)
    parts = ([f"{days} 天"] if days else []) + ([f"{hours} 小时"] if hours or not days else [])
    return "已快进 " + " ".join(parts)


def _morning_gap(sc) -> timedelta:
    """From the daily report's time to a minute after the morning digest's, if that follows within two hours."""

    def minutes(hhmm: str) -> int:
        hh, mm = hhmm.split(":")
        return int(hh) * 60 + int(mm)

    gap = minutes(sc.my_customers_at) - minutes(sc.daily_report_at)
    return timedelta(minutes=(gap if 0 <= gap <= 120 else 0) + 1)


async def _weather_view(app: web.Application) -> dict[str, Any]:
    weather = app.get(WEATHER)
    if not isinstance(weather, DemoWeather):
        return {"demo": False, "alert": None}
    report = await weather.alerts(0.0, 0.0)
    return {"demo": True, "alert": report.alerts[0].title if report.alerts else None}


@refusing
async def jump(request: web.Request) -> web.Response:
    from orderbot.jobs.scheduler import SCHEDULER

    app = request.app
    clock = app[CLOCK]
    if not isinstance(clock, OffsetClock):
        return json_error(409, "这个服务器用的是真实时间，不能快进（只有 orderbot demo 可以）")
    body = await _body(request)
    zone = ZoneInfo(app[CONFIG].timezone)
    sc = app[CONFIG].scheduler
    scheduler = app.get(SCHEDULER)
    async with app[SANDBOX].jump_lock:  # one jump at a time, each with its jobs
        now = clock()
        targets = {
            "hour": lambda: now + timedelta(hours=1),
            "day": lambda: now + timedelta(days=1),
            "morning": lambda: next_local(now, zone, [sc.daily_report_at]) + _morning_gap(sc),
            "courier": lambda: next_local(now, zone, sc.courier_batch_at or ["10:00"]) + timedelta(minutes=1),
        }
        if body.get("jump") not in targets:
            return json_error(400, "不认识的快进方式")
        target = targets[body["jump"]]()
        before, ran = now, {}
        company = _company(app)
        rules_at = now
        # Step by step: the company works the step (hour by hour), then the jobs that fell due in it run, so the
        # alerts, reports and courier batches see the business about as it was at their own time.
        while clock() < target - timedelta(seconds=1):
            t0, t1 = clock.advance(min(STEP, target - clock()))
            if company is not None:
                await company.work(t0, t1)
            last = clock() >= target - timedelta(seconds=1)
            names = step_jobs(scheduler.specs.values(), zone, t0, t1, rules_at=rules_at, last=last) if scheduler else ()
            for name in names:
                if name == "outbox":  # it only wakes the worker, which happens below anyway
                    continue
                if name == "rules":
                    rules_at = t1
                run = await scheduler.run_now(name)
                ran[name] = {
                    "job": name,
                    "name": JOB_NAMES.get(name, name),
                    "outcome": run.outcome,
                    "result": run.result if isinstance(run.result, (str, int)) else None,
                    "error": run.error,
                }
        after = clock()
        ran = sorted(ran.values(), key=lambda r: r["job"] != "rules")  # the rules first, as in every jump
        app[WORKER].wake.set()
    log.info(
        "sandbox clock moved from %s to %s; ran %s",
        before.isoformat(),
        after.isoformat(),
        ", ".join(r["job"] for r in ran) or "nothing",
    )
    return json_ok(clock=_clock_view(app), ran=ran, scheduler=scheduler is not None)


@refusing
async def weather(request: web.Request) -> web.Response:
    app = request.app
    demo = app.get(WEATHER)
    if not isinstance(demo, DemoWeather):
        return json_error(409, "已接入真实的和风天气，演示天气开关不可用")
    body = await _body(request)
    if body.get("alert"):
        demo.raise_alert()
    else:
        demo.clear()
    return json_ok(weather=await _weather_view(app))


# --- inbound: messages, clicks, scans ---------------------------------------------------------------------
def _sandbox_log(app: web.Application):
    return app[SENDERS]["sandbox"]


@refusing
async def message(request: web.Request) -> web.Response:
    app = request.app
    body = await _body(request)
    user, msg_id = body.get("user"), _msg_id(body)
    group = _conversation(app, user, body.get("conv"))
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Refused("消息不能为空")
    if len(text) > MAX_TEXT:
        raise Refused(f"消息太长了（最多 {MAX_TEXT} 字）")
    if group in _aibot_groups(app):
        quote = body.get("quote")
        if quote is not None and (not isinstance(quote, str) or len(quote) > MAX_TEXT):
            raise Refused("引用的消息不对")
        return await _to_wecom(
            request,
            user,
            lambda fake, base, person: fake.message(
                base,
                staff_id=user,
                userid=_wecom_id(person),
                group=group,
                text=text.strip(),
                quote=quote.strip() if quote else None,
                msgid=msg_id,
            ),
        )
    origin = _origin(user, group)
    event = ChatMessage(origin, text.strip(), f"msg:{msg_id}", app[CLOCK]())
    return await _hand_over(app, event, {"text": event.text})


@refusing
async def card(request: web.Request) -> web.Response:
    app = request.app
    body = await _body(request)
    user, msg_id = body.get("user"), _msg_id(body)
    group = _conversation(app, user, body.get("conv"))
    key = body.get("key")
    if not isinstance(key, str) or ":" not in key or len(key) > 500:
        raise Refused("按钮参数不对")
    task_id = body.get("task_id") if isinstance(body.get("task_id"), str) else None
    if group in _aibot_groups(app):
        if not task_id:
            raise Refused("按钮参数不对")
        return await _to_wecom(
            request,
            user,
            lambda fake, base, person: fake.click(
                base,
                staff_id=user,
                userid=_wecom_id(person),
                group=group,
                key=key,
                task_id=task_id,
                button=str(body.get("text") or key)[:40],
                msgid=msg_id,
            ),
        )
    event = CardAction(_origin(user, group), key, f"card:{msg_id}", app[CLOCK](), task_id=task_id)
    return await _hand_over(app, event, {"button": str(body.get("text") or key)[:40], "key": key})


async def _to_wecom(request: web.Request, user: str, act) -> web.Response:
    """Hand a message or click in an AI-bot group to the demo's fake WeCom, which calls the bot's real door on
    this server (the address the page's request came in at)."""
    app = request.app
    person = _person(app, user)
    host, port = request.transport.get_extra_info("sockname")[:2] if request.transport else ("127.0.0.1", 0)
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    try:
        return json_ok(**await act(app[FAKE_WECOM], base, person))
    except (PlatformTrouble, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("sandbox WeCom: the AI bot did not take a callback: %s", exc)
        return json_error(502, f"演示的企业微信没能把消息交给机器人：{exc or type(exc).__name__}")


async def _hand_over(app: web.Application, event, echo: dict) -> web.Response:
    """Inbox first (dedupe), then the conversation log, then processing in the background, as WeCom's route."""
    inbox_id = await app[PIPELINE].accept(event)
    if inbox_id is None:
        return json_ok(duplicate=True)
    kind = "click" if isinstance(event, CardAction) else "text"
    item = _sandbox_log(app).record_inbound(event.origin.reply_to, event.origin.user_id, kind, echo)
    app[PIPELINE].schedule(inbox_id, event)
    return json_ok(accepted=True, id=item["id"])


@refusing
async def scan(request: web.Request) -> web.Response:
    """As WeCom's scanner: `QR_CODE,<label>` from the person's scanner menu; the answer goes through the outbox to
    the person's chat with the bot and, when ready within the deadline, also back to the scanner panel."""
    app = request.app
    body = await _body(request)
    user, msg_id = body.get("user"), _msg_id(body)
    _person(app, user)
    label = body.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > 500:
        raise Refused("扫码内容为空或太长")
    station = body.get("station") if isinstance(body.get("station"), str) else STATION
    origin = _origin(user, None)
    event = ScanEvent(origin, f"QR_CODE,{label.strip()}", f"scan:{msg_id}", app[CLOCK](), station=station[:32])
    inbox_id = await app[PIPELINE].accept(event)
    if inbox_id is None:
        return json_ok(duplicate=True)
    _sandbox_log(app).record_inbound(origin.reply_to, user, "scan", {"label": event.raw})
    try:
        processed = await app[SANDBOX].background.within(app[PIPELINE].run(inbox_id, event), SCAN_DEADLINE)
    except TimeoutError:
        return json_ok(pending=True, answer="扫码已收到，结果稍后发到和机器人的聊天里")
    except Exception:  # recorded as failed by the pipeline, which also tells the person in the chat
        log.exception("sandbox scan #%s failed", inbox_id)
        return json_ok(answer="处理这次扫码时出错了，已记录")
    reply = processed.reply if processed else None
    return json_ok(answer=reply_plain(reply) if reply else "", outcome=(reply.meta.get("audit") if reply else None))


# --- the conversation log ---------------------------------------------------------------------------------
def _plain_strings(value):
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, list):
        return [_plain_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_strings(v) for k, v in value.items()}
    return value


def _view(item: dict, zone: ZoneInfo) -> dict[str, Any]:
    """A log entry as the page draws it: charts and files become links instead of inline base64."""
    at = datetime.fromisoformat(item["at"]).astimezone(zone)
    out = {
        "id": item["id"],
        "conv": item["destination"],
        "dir": item["direction"],
        "time": f"{at:%H:%M}",
        "day": f"{at.month}月{at.day}日",
        "ts": int(at.timestamp()),
    }
    payload = item["payload"]
    if item["direction"] == "in":
        return {**out, "sender": item["sender"], "kind": item["kind"], **payload}
    if item["kind"] == "aibot":  # what the AI bot (or the group's webhook) sent, as WeCom received it
        body = json.loads(json.dumps(payload["body"]))
        for n, image in enumerate(images(body)):  # the page loads images by URL, not inline base64
            image.pop("base64", None)
            image["url"] = f"/sandbox/media/{item['id']}/{n}.png"
        return {**out, "kind": "aibot", "via": payload["via"], "msgid": payload.get("msgid"), "body": body}
    # The page draws with textContent (never innerHTML), so values need no HTML escaping here; the invisible
    # markers of outside values are dropped.
    reply = {k: _plain_strings(payload.get(k)) for k in ("title", "text", "markdown", "table", "card")}
    reply["charts"] = [
        {"title": c.get("title", ""), "url": f"/sandbox/media/{item['id']}/{i}.png"}
        for i, c in enumerate(payload.get("charts") or [])
    ]
    reply["files"] = [
        {"filename": f.get("filename", "file"), "url": f"/sandbox/media/{item['id']}/{i}"}
        for i, f in enumerate(payload.get("files") or [])
    ]
    if not reply.get("text") and payload.get("fields"):  # a WeChat template payload
        reply["text"] = "\n".join(f"{k}：{v}" for k, v in payload["fields"].items())
    return {**out, "kind": item["kind"], "reply": reply}


async def feed(request: web.Request) -> web.Response:
    app = request.app
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        return json_error(400, "after 应是整数")
    sandbox = _sandbox_log(app)
    zone = ZoneInfo(app[CONFIG].timezone)
    items = [_view(m, zone) for m in sandbox.since(after)]
    return json_ok(items=items, last=sandbox.last_id, epoch=app[SANDBOX].epoch, clock=_clock_view(app))


async def media(request: web.Request) -> web.Response:
    item = _sandbox_log(request.app).get(int(request.match_info["id"]))
    name = request.match_info["n"]
    index = int(name.removesuffix(".png"))
    if item is None or item["direction"] != "out":
        raise web.HTTPNotFound(text="这条消息已不在演示记录里")
    if name.endswith(".png") and item["kind"] == "aibot":
        pictures = images(item["payload"]["body"])
        if index >= len(pictures):
            raise web.HTTPNotFound()
        return web.Response(
            body=base64.b64decode(pictures[index]["base64"]),
            content_type="image/png",
            headers={"Cache-Control": "max-age=86400"},
        )
    if name.endswith(".png"):
        charts = item["payload"].get("charts") or []
        if index >= len(charts):
            raise web.HTTPNotFound()
        return web.Response(
            body=base64.b64decode(charts[index]["png"]),
            content_type="image/png",
            headers={"Cache-Control": "max-age=86400"},
        )
    files = item["payload"].get("files") or []
    if index >= len(files):
        raise web.HTTPNotFound()
    f = files[index]
    return web.Response(
        body=base64.b64decode(f["content"]),
        content_type=f.get("mime") or "application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(f['filename'])}"},
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


async def state(request: web.Request) -> web.Response:
    app = request.app
    box = await _prime(app)
    return json_ok(**await _boot(app, box))


async def _boot(app: web.Application, box: Sandbox) -> dict[str, Any]:
    customer = box.customer or {}
    return {
        "people": _people(app, box.sample_order),
        "groups": _groups(app),
        "aibot": {"name": app[SETTINGS].wecom_aibot_name, "groups": list(_aibot_groups(app))},
        "epoch": box.epoch,
        "customer": {"id": f"customer:{customer['id']}", "name": customer["name"]} if customer else None,
        "clock": _clock_view(app),
        "weather": await _weather_view(app),
        "stages": list(STAGE_NAMES.values()),
    }


# --- the page ---------------------------------------------------------------------------------------------
async def index(request: web.Request) -> web.Response:
    app = request.app
    box = await _prime(app)
    boot = await _boot(app, box)
    boot["as"] = request.query.get("as", "")
    people = "".join(
        f'<button class="person" data-person="{escape(p["id"])}"><span class="avatar">{escape(p["name"][-2:])}</span>'
        f'<span class="who"><b>{escape(p["name"])}</b><small>{escape("、".join(p["roles"]))}</small></span></button>'
        for p in boot["people"]
    )
    if boot["customer"]:
        c = boot["customer"]
        people += (
            f'<button class="person customer" data-person="{escape(c["id"])}"><span class="avatar">客</span>'
            f'<span class="who"><b>{escape(c["name"])}</b><small>客户（微信服务号）</small></span></button>'
        )
    data = json.dumps(boot, ensure_ascii=False).replace("<", "\\u003c")
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    membership = "；".join(
        f"{name} = {'、'.join(ROLE_NAMES.get(r, r) for r in GROUP_ROLES.get(key, ()))}"
        for key, name in _groups(app).items()
    )
    for slot, value in (
        ("membership", escape(membership)),
        ("people", people),
        ("boot", data),
        ("clock", escape(boot["clock"]["text"])),
    ):
        html = html.replace("{{" + slot + "}}", value)
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers={"Cache-Control": "no-store"})


def _fake_wecom(app: web.Application) -> FakeWeCom | None:
    """The demo's fake WeCom, when the demo runs the AI bot in callback mode (as `orderbot demo` does)."""
    settings = app[SETTINGS]
    token, key = settings.wecom_aibot_token, settings.wecom_aibot_encoding_aes_key
    if settings.wecom_aibot_mode != "callback" or token is None or key is None:  # as bootstrap.aibot_mode
        return None
    groups = {k: g for k, g in app[CONFIG].groups.items() if g.platform == "wecom_aibot" and g.chat_id}
    return FakeWeCom(
        AibotCrypto(token.get_secret_value(), key.get_secret_value()),
        settings.wecom_aibot_name,
        _sandbox_log(app),
        app[CLOCK],
        chats={g.chat_id: k for k, g in groups.items()},
        hooks={g.webhook_key: k for k, g in groups.items() if g.webhook_key},
    )


def setup(app: web.Application) -> None:
    app[SANDBOX] = Sandbox()
    drain_at_shutdown(app, app[SANDBOX].background)  # clicks and messages in flight commit first
    fake = _fake_wecom(app)
    if fake is not None:
        app[FAKE_WECOM] = fake
        app.cleanup_ctx.append(fake.lifetime)
        app.router.add_post(PREFIX + "/cgi-bin/webhook/send", fake.webhook)
        app.router.add_post(PREFIX + "/cgi-bin/aibot/response", fake.response_url)
    app.router.add_get("/", index)
    app.router.add_static("/sandbox/static/", STATIC, name="sandbox_static")
    app.router.add_get("/sandbox/state", state)
    app.router.add_get("/sandbox/feed", feed)
    app.router.add_get(r"/sandbox/media/{id:\d+}/{n:\d+(?:\.png)?}", media)
    app.router.add_post("/sandbox/message", message)
    app.router.add_post("/sandbox/card", card)
    app.router.add_post("/sandbox/scan", scan)
    app.router.add_get("/sandbox/packages", packages)
    app.router.add_get("/sandbox/cockpit", cockpit)
    app.router.add_post("/sandbox/clock", jump)
    app.router.add_post("/sandbox/weather", weather)
