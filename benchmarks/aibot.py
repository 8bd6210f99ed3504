"""Figures of the WeCom AI bot, against the fake platform (tests/fakes/wecom_aibot.py) over loopback.

- callback acknowledgement: order questions POSTed to /wecom/aibot at 50 a second (open loop), the time until
  WeCom has its encrypted answer (a finished stream when the answer is ready within the one-go window, else the
  first frame of an open stream); target p99 < 50 ms.
- card click: a button press answered with update_template_card (the whole round trip through the pipeline);
  target p99 < 1 s.
- long connection: 20 group chats ask for an order card at once, round after round; the time from WeCom's
  callback frame to our answer frame arriving at WeCom; target p99 < 500 ms.
The app runs in this process on the seeded SQLite file with the real dispatcher (the load generator is light).
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from aiohttp.test_utils import TestServer

from benchmarks.bench import BENCH_NOW, BenchContext, Registry, Result, _card_refs
from benchmarks.channels import _pct
from orderbot.app import freeze_startup_heap

TOKEN, AES_KEY = "benchtoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
GROUP = "wrBenchGroup"


async def _app(ctx: BenchContext, name: str, **env):
    """The app on its own copy of the seeded file (what one benchmark leaves behind does not meet the next)."""
    import shutil

    from orderbot.app import create_app
    from orderbot.db.engine import Database
    from orderbot.settings import load_settings

    seeded = await ctx.seeded_sqlite()
    source = seeded["path"]
    copy = ctx.workdir / f"{name}.db"
    await asyncio.to_thread(shutil.copyfile, source, copy)
    settings = load_settings(env_file=None, ORDERBOT_CACHE_DIR=str(ctx.workdir / "cache"), **env)
    db = Database.from_url(f"sqlite+aiosqlite:///{copy}")
    app = create_app(settings, config=ctx.config, db=db, clock=lambda: BENCH_NOW)
    return app, db


async def bench_aibot_callbacks(ctx: BenchContext) -> list[Result]:
    from benchmarks.channels import _open_loop
    from orderbot.core.orders.service import set_channel_frozen
    from orderbot.webhooks.aibot_crypto import AibotCrypto
    from tests.fakes.wecom_aibot import CallbackDriver, ResponseUrls

    app, db = await _app(ctx, "aibot_callback", WECOM_AIBOT_TOKEN=TOKEN, WECOM_AIBOT_ENCODING_AES_KEY=AES_KEY)
    urls = ResponseUrls()
    urls_server = TestServer(urls.app())
    await urls_server.start_server()
    urls.base = str(urls_server.make_url("")).rstrip("/")
    server = TestServer(app)
    await server.start_server()
    freeze_startup_heap()  # as `orderbot serve` does once its app has started
    refs = await _card_refs(db, 600)
    crypto = AibotCrypto(TOKEN, AES_KEY)
    try:
        async with aiohttp.ClientSession() as http:
            driver = CallbackDriver(http, str(server.make_url("/wecom/aibot")), crypto, urls)
            msgs = [
                crypto.seal_request(
                    driver.message(
                        f"b{i}", "text", {"content": f"@OrderBot 查单 {ref[0]}"}, user="LiuYang", chat=GROUP
                    ),
                    nonce=f"n{i}",
                    timestamp=str(int(time.time())),
                )
                for i, ref in enumerate(refs[:500])
            ]
            acks = await _open_loop(str(server.make_url("/wecom/aibot")), msgs, 50.0)
            await _caught_up(app)  # clicks are measured on their own, not behind the flood's backlog
            clicks = []
            for i in range(100):  # a person pressing 撤销冻结 (a real write, audited, answered with the card update)
                async with db.write() as session:  # frozen again first (not timed), so every press unfreezes
                    await set_channel_frozen(session, "tiktok", True, actor="bench", reason="bench", now=BENCH_NOW)
                body = driver.event(
                    f"c{i}",
                    "template_card_event",
                    {"card_type": "button_interaction", "event_key": "unfreeze:tiktok", "task_id": f"t{i}"},
                    user="HePing",
                    chat=GROUP,
                )
                t = time.perf_counter()
                status, reply = await driver.post(body, "template_card_event")
                clicks.append((time.perf_counter() - t) * 1000)
                if status != 200 or (reply or {}).get("response_type") != "update_template_card":
                    raise RuntimeError(f"card click {i} answered {status}: {reply} after {clicks[-1]:.0f} ms")
                if "已解冻" not in json.dumps(reply, ensure_ascii=False):
                    raise RuntimeError(f"card click {i} did not unfreeze: {reply}")
    finally:
        await server.close()
        await urls_server.close()
        await db.dispose()
    return [
        Result(
            "aibot.callback_ack_p99_at_50rps",
            _pct(acks, 99),
            "ms",
            ("<", 50.0),
            extra={"p50_ms": _pct(acks, 50), "requests": len(acks)},
        ),
        Result(
            "aibot.card_update_p99",
            _pct(clicks, 99),
            "ms",
            ("<", 1000.0),
            extra={"p50_ms": _pct(clicks, 50), "clicks": len(clicks)},
        ),
    ]


async def bench_aibot_ws(ctx: BenchContext, chats: int = 20, rounds: int = 10) -> list[Result]:
    from tests.fakes.wecom_aibot import FakeAibotWs

    fake = FakeAibotWs(per_minute=10_000)
    fake_server = TestServer(fake.app())
    await fake_server.start_server()
    url = str(fake_server.make_url("/")).replace("http://", "ws://")
    app, db = await _app(
        ctx,
        "aibot_ws",
        WECOM_AIBOT_MODE="ws",
        WECOM_AIBOT_ID=fake.bot_id,
        WECOM_AIBOT_SECRET=fake.secret,
        WECOM_AIBOT_WS_URL=url,
    )
    server = TestServer(app)
    await server.start_server()
    freeze_startup_heap()  # as `orderbot serve` does once its app has started
    refs = await _card_refs(db, chats * rounds)
    latencies: list[float] = []
    try:
        await asyncio.wait_for(fake.connected.wait(), 30)
        for r in range(rounds):
            sent = {}
            for c in range(chats):
                body = {
                    "msgid": f"w{r}-{c}",
                    "aibotid": fake.bot_id,
                    "chatid": f"{GROUP}{c}",
                    "chattype": "group",
                    "from": {"userid": "LiuYang"},
                    "msgtype": "text",
                    "text": {"content": f"@OrderBot 查单 {refs[r * chats + c][0]}"},
                }
                sent[await fake.push_callback(body)] = time.perf_counter()
            deadline = time.monotonic() + 30
            while any(rid not in fake.first_answer for rid in sent) and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            latencies += [(fake.first_answer[rid] - t) * 1000 for rid, t in sent.items() if rid in fake.first_answer]
            if len(latencies) < (r + 1) * chats:
                raise RuntimeError("answers missing after 30 s")
    finally:
        await server.close()
        await fake_server.close()
        await db.dispose()
    return [
        Result(
            "aibot.ws_answer_p99_20_chats",
            _pct(latencies, 99),
            "ms",
            ("<", 500.0),
            extra={"p50_ms": _pct(latencies, 50), "answers": len(latencies)},
        )
    ]


async def _caught_up(app, timeout: float = 120) -> None:
    from sqlalchemy import func, select

    from orderbot.core.models import InboundEvent
    from orderbot.webhooks.common import DB

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with app[DB].read() as s:
            if not (
                await s.execute(select(func.count()).select_from(InboundEvent).where(InboundEvent.state == "new"))
            ).scalar_one():
                return
        await asyncio.sleep(0.2)


def register(reg: Registry) -> None:
    reg.add("aibot_callback", bench_aibot_callbacks)
    reg.add("aibot_ws", bench_aibot_ws)
