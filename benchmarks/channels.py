"""Benchmarks of the channels issue: encrypted WeCom callbacks over loopback HTTP, and outbox draining.

Callbacks: our full app (verify → decrypt → parse → dedupe → commit → acknowledge) is measured side by side
with a bare endpoint that only decrypts, parses and answers 200, both served by a separate process, with the
load generated here. Outbox: 10,000 messages to 50 group robots drained on a simulated clock through a local
fake of the robot API that answers 45009 to anything faster than 20 a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, UTC
from pathlib import Path

import aiohttp

CHECKOUT = Path(__file__).resolve().parent.parent  # benchmarks/ and tests/ live here
TOKEN, AES_KEY, CORP = "benchtoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wwbenchcorp"


def _import_fake_wecom():
    """The fake WeCom server lives with the tests (tests/fakes), beside this package in the checkout."""
    from tests.fakes import wecom

    return wecom


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _messages(n: int, prefix: str) -> list[tuple[dict, str]]:
    from wechatpy.enterprise.crypto import WeChatCrypto

    from orderbot.webhooks.wecom import seal

    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
    out = []
    for i in range(n):
        plain = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[U{i % 50}]]>"
            f"</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[查单 SO2026020100{i:04d}]]></Content><MsgId>{prefix}{i}</MsgId>"
            f"<AgentID>1</AgentID></xml>"
        )
        out.append(seal(crypto, TOKEN, CORP, plain, nonce=f"n{i}", timestamp="1700000000"))
    return out


async def _wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start")


async def _closed_loop(url: str, msgs, concurrency: int, *, passive: bool = False) -> tuple[float, list[float]]:
    """Post every callback with `concurrency` connections, each as soon as its previous answer came back;
    (requests/s, latencies in ms). With `passive`, each answer must be an encrypted passive reply."""
    latencies: list[float] = []
    queue = list(reversed(msgs))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def worker():
            while queue:
                params, body = queue.pop()
                t = time.perf_counter()
                async with http.post(url, params=params, data=body) as resp:
                    text = await resp.text()
                    if resp.status != 200 or (passive and "Encrypt" not in text):
                        raise RuntimeError(f"callback answered {resp.status}: {text[:80]}")
                latencies.append((time.perf_counter() - t) * 1000)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(msgs) / (time.perf_counter() - start), latencies


async def _open_loop(url: str, msgs, rate: float) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:

        async def one(params, body):
            t = time.perf_counter()
            async with http.post(url, params=params, data=body) as resp:
                await resp.read()
            latencies.append((time.perf_counter() - t) * 1000)

        start = time.perf_counter()
        tasks = []
        for i, (params, body) in enumerate(msgs):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(params, body)))
        await asyncio.gather(*tasks)
    return latencies


async def _caught_up(db_path: Path, timeout: float = 120) -> float:
    """Seconds until the server has processed every acknowledged event (no inbox row left 'new')."""
    import sqlite3

    start = time.perf_counter()
    conn = sqlite3.connect(db_path, timeout=5)
    try:
        while time.perf_counter() - start < timeout:
            if conn.execute("SELECT count(*) FROM inbound_events WHERE state = 'new'").fetchone()[0] == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        conn.close()
    return time.perf_counter() - start


def _serve(mode: str, port: int, db_path: Path, **extra_env: str) -> subprocess.Popen:
    """`benchmarks.server` in its own process: the app (`full`) or the bare endpoint, as WeCom app agent 1."""
    env = {
        **os.environ,
        "ORDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "WECOM_TOKEN": TOKEN,
        "WECOM_ENCODING_AES_KEY": AES_KEY,
        "WECOM_CORP_ID": CORP,
        "WECOM_AGENT_ID": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")])),
        **extra_env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", mode, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def bench_wecom_callbacks(
    requests: int = 2000, concurrency: int = 16, rate: float = 200, rate_seconds: float = 5
) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        figures = {}
        for mode in ("bare", "full"):
            port = _free_port()
            db_path = Path(tmp) / f"{mode}.db"
            proc = _serve(mode, port, db_path)
            try:
                url = f"http://127.0.0.1:{port}/wecom/callback"
                await _wait_ready(f"http://127.0.0.1:{port}/healthz")
                warm, burst = _messages(100, f"warm{mode}"), _messages(requests, f"tp{mode}")
                paced_msgs = _messages(int(rate * rate_seconds), f"rate{mode}")
                await _closed_loop(url, warm, concurrency)
                if mode == "full":  # each phase starts from a server that has answered everything before it
                    await _caught_up(db_path)
                throughput, lat = await _closed_loop(url, burst, concurrency)
                caught_up = await _caught_up(db_path) if mode == "full" else None
                paced = await _open_loop(url, paced_msgs, rate)
                figures[mode] = (throughput, lat, paced, caught_up)
            finally:
                proc.terminate()
                proc.wait(timeout=15)
        bare_tp, full_tp = figures["bare"][0], figures["full"][0]
        results.append(
            {
                "name": "wecom_callback.throughput",
                "figure": round(full_tp, 1),
                "unit": "req/s",
                "target": "≥ 0.5 × bare",
                "baseline": round(bare_tp, 1),
                "ratio": round(full_tp / bare_tp, 2),
                "ok": full_tp >= 0.5 * bare_tp,
                "detail": f"closed loop, {concurrency} connections, {requests} encrypted callbacks; "
                f"p50 full {statistics.median(figures['full'][1]):.1f} ms vs bare "
                f"{statistics.median(figures['bare'][1]):.1f} ms; every event answered "
                f"{figures['full'][3]:.1f} s after the burst (processing gives way to "
                f"acknowledgements, waiting for a flood at most 2 s)",
            }
        )
        p99_full, p99_bare = _pct(figures["full"][2], 99), _pct(figures["bare"][2], 99)
        results.append(
            {
                "name": "wecom_callback.ack_p99_at_200rps",
                "figure": round(p99_full, 1),
                "unit": "ms",
                "target": "< 50 ms",
                "baseline": round(p99_bare, 1),
                "ratio": round(p99_full / p99_bare, 2) if p99_bare else None,
                "ok": p99_full < 50,
                "detail": f"open loop {rate:.0f} req/s for {rate_seconds:.0f} s; p50 "
                f"{_pct(figures['full'][2], 50):.1f} ms",
            }
        )
    return results


@asynccontextmanager
async def robot_outbox(
    name: str, clock, messages: int, destinations: int, text: Callable[[int], str]
) -> AsyncIterator[tuple[Any, Any, Any]]:
    """A fresh SQLite outbox (file `name`) holding `messages` replies, the i-th saying `text(i)`, spread over
    `destinations` WeCom group robots; the fake robot API behind them on `clock`; the worker that drains it.
    Yields (worker, fake, db)."""
    from orderbot.core import outbox
    from orderbot.db.engine import Database
    from orderbot.db.migrate import upgrade
    from orderbot.messaging.reply import Reply
    from orderbot.messaging.senders.wecom import WeComRobotSender
    from orderbot.messaging.worker import OutboxWorker
    from tests.fakes import serving

    fake_wecom = _import_fake_wecom()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(tmp) / name}")
        await upgrade(db.engine)
        try:
            async with serving(fake_wecom.FakeWeCom(clock=lambda: clock().timestamp())) as fake:
                async with db.write() as s:
                    for i in range(messages):
                        await outbox.enqueue(
                            s,
                            channel="wecom_robot",
                            destination=f"robot:K{i % destinations}",
                            kind="reply",
                            payload=Reply(text=text(i)).to_dict(),
                            now=clock(),
                        )
                async with aiohttp.ClientSession() as http:
                    senders = {"wecom_robot": WeComRobotSender(http, fake.base)}
                    yield OutboxWorker(db, senders, clock, batch=1000, concurrency=50, seed=1), fake, db
        finally:
            await db.dispose()


async def bench_outbox_drain(messages: int = 10_000, destinations: int = 50) -> list[dict]:
    from orderbot.core.clock import ManualClock

    clock = ManualClock(datetime(2026, 2, 10, 1, 0, tzinfo=UTC))
    start = clock()
    shipped = "订单 SO202602010001 已发货"
    async with robot_outbox("outbox.db", clock, messages, destinations, lambda i: shipped) as (worker, fake, _):
        wall = time.perf_counter()
        sent = 0
        while sent < messages:
            n = await worker.run_once()
            sent += n
            if n == 0:
                clock.advance(seconds=1)
        wall = time.perf_counter() - wall
    simulated = (clock() - start).total_seconds()
    per_minute = 20 * destinations
    minimum = (messages / per_minute - 1) * 60  # the first window starts at once
    return [
        {
            "name": "outbox.drain_10k_50dest",
            "figure": round(simulated),
            "unit": "s simulated",
            "target": "= rate-limit minimum, 0 refusals",
            "baseline": round(minimum),
            "ratio": round(simulated / minimum, 3) if minimum else None,
            "ok": fake.refused == 0 and simulated <= minimum + 60,
            "detail": f"{messages} messages, {destinations} robots at 20/min: {fake.refused} platform refusals "
            f"(45009); worker wall time {wall:.1f} s ({messages / wall:.0f} msg/s)",
        }
    ]
