"""A burst of scans with the server killed by SIGKILL midway: after a restart and the platform's retries, every
acknowledged scan is recorded exactly once and stock equals the start minus the scanned packages. On SQLite and
on PostgreSQL (a database of its own, since the server runs as another process from a URL)."""

from __future__ import annotations

import pytest

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import uuid

import aiohttp
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from orderbot.config import load_config
from orderbot.core.models import InboundEvent, Package, Scan
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import ingest_order
from orderbot.core.staff import sync_staff
from orderbot.core.stock import ledger
from orderbot.core.warehouse.labels import label_text
from orderbot.db.engine import Database
from orderbot.db.migrate import upgrade

from tests.conftest import EXAMPLE_CONFIG, PG_URL, T0
from tests.helpers import add_products, order_json, sealed_scan

TOKEN, AES_KEY, CORP, SECRET = "crashtoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wwcrash", "crash-secret"
ORDERS = 90


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh database's URL: a SQLite file, or a PostgreSQL database created for this test and dropped after."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        return
    if not PG_URL:
        pytest.skip("ORDERBOT_TEST_PG_URL is not set: PostgreSQL cases skip locally (CI always runs them)")
    name = f"crash_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _serve(db_url: str, port: int, tmp: Path) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORDERBOT_", "WECOM_"))},
        "ORDERBOT_DATABASE_URL": db_url,
        "ORDERBOT_CONFIG": str(EXAMPLE_CONFIG),
        "WECOM_TOKEN": TOKEN,
        "WECOM_ENCODING_AES_KEY": AES_KEY,
        "WECOM_CORP_ID": CORP,
        "WECOM_AGENT_ID": "1",
        "ORDERBOT_LABEL_SECRET": SECRET,
        "ORDERBOT_CACHE_DIR": str(tmp / "cache"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orderbot", "serve", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _ready(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(150):
            try:
                async with http.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("server did not start")


async def _caught_up(db: Database, timeout: float = 90) -> None:
    """Until no stored event waits to be processed (the server resumes them a few seconds after start)."""
    for _ in range(int(timeout / 0.25)):
        async with db.read() as s:
            if not (
                await s.execute(select(func.count()).select_from(InboundEvent).where(InboundEvent.state == "new"))
            ).scalar():
                return
        await asyncio.sleep(0.25)
    raise AssertionError("stored events were not processed after the restart")


def _event(i: int) -> tuple[dict, str]:
    raw = label_text(SECRET, f"SO202602100{i:03d}", "CASE-IP15-CLR", "B260210", 1)
    return sealed_scan(TOKEN, AES_KEY, CORP, i, raw)


@pytest.mark.slow
async def test_sigkill_midway_loses_and_doubles_nothing(tmp_path, database_url):
    config = load_config(EXAMPLE_CONFIG, required=True)
    db = Database.from_url(database_url)
    await upgrade(db.engine)
    async with db.write() as s:
        await sync_staff(s, config)
        await add_products(s, config, stock=500, at=T0)
        for i in range(ORDERS):
            await ingest_order(
                s,
                parse_order(order_json(f"SO202602100{i:03d}", lines=[{"sku": "CASE-IP15-CLR", "qty": 2}])),
                source="test",
                config=config,
                now=T0,
            )
    async with db.write() as s:  # labels are printed for today's batch
        await s.execute(Package.__table__.update().values(batch_no="B260210"))
    async with db.read() as s:
        start = await ledger.levels(s, "CASE-IP15-CLR")
    port = _port()
    base = f"http://127.0.0.1:{port}"
    events = [_event(i) for i in range(ORDERS)]
    acknowledged: list[int] = []  # answered with the passive reply: processed and committed
    answered: list[int] = []  # any 200: at least stored in the inbox (on a busy PostgreSQL the reply may come later)
    server = _serve(database_url, port, tmp_path)
    try:
        await _ready(base)
        async with aiohttp.ClientSession() as http:

            async def one(i: int) -> None:
                params, body = events[i]
                try:
                    async with http.post(f"{base}/wecom/callback", params=params, data=body) as resp:
                        if resp.status == 200:
                            answered.append(i)
                            if "Encrypt" in await resp.text():
                                acknowledged.append(i)
                except aiohttp.ClientError:
                    pass

            async def killer() -> None:
                while len(answered) < ORDERS // 3:
                    await asyncio.sleep(0.005)
                server.send_signal(signal.SIGKILL)  # mid-burst, no chance to clean up

            kill = asyncio.ensure_future(killer())
            tasks = []
            for i in range(ORDERS):
                tasks.append(asyncio.ensure_future(one(i)))
                await asyncio.sleep(0.02)
            await asyncio.gather(*tasks)
            await kill
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    assert 0 < len(answered) < ORDERS
    server = _serve(database_url, port, tmp_path)  # restart; WeCom retries everything it has no answer for, and more
    try:
        await _ready(base)
        async with aiohttp.ClientSession() as http:
            for params, body in events + events[:10]:
                async with http.post(f"{base}/wecom/callback", params=params, data=body) as resp:
                    assert resp.status == 200
        await _caught_up(db)  # events stored before the kill are resumed by the restarted server
    finally:
        server.terminate()
        server.wait(timeout=15)
    async with db.read() as s:
        ok_scans = dict(
            (
                await s.execute(select(Scan.order_no, func.count()).where(Scan.outcome == "ok").group_by(Scan.order_no))
            ).all()
        )
        scanned = (
            await s.execute(select(func.count()).select_from(Package).where(Package.scanned_at.is_not(None)))
        ).scalar()
        end = await ledger.levels(s, "CASE-IP15-CLR")
        totals = await ledger.ledger_totals(s, "CASE-IP15-CLR")
    await db.dispose()
    assert all(ok_scans.get(f"SO202602100{i:03d}") == 1 for i in acknowledged)  # acknowledged: recorded once
    assert set(ok_scans.values()) == {1} and len(ok_scans) == ORDERS == scanned  # retried: every one, once
    assert start.on_hand - end.on_hand == 2 * scanned and end.reserved == start.reserved - 2 * scanned
    assert totals == (end.on_hand, end.reserved)
