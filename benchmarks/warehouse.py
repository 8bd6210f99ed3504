"""Benchmarks of the warehouse issue: scans per second end to end (encrypted WeCom callback → committed →
acknowledged with the passive reply) on SQLite and PostgreSQL, and the time from a scan to the customer's
shipment notice leaving the outbox. The server runs in its own process; the load comes from this one."""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime, UTC
from pathlib import Path


from benchmarks.channels import AES_KEY, CORP, TOKEN, _closed_loop, _free_port, _pct, _wait_ready
from orderbot.config import EXAMPLE_CONFIG

SECRET = "bench-label-secret"
SEED_PEAK_SCANS_PER_S = 12_000 / 3600  # the seed's peak: 12,000 orders in one busy hour
# After the throughput run, the server is restarted with a local SMTP server and this many more scans, of orders
# whose customers have an email address, measure the time from a scan to its shipment notice leaving the outbox.
# (The throughput run's customers have no channel: their notices are dead rows with a 无法通知客户 task, as in
# `serve` without WeChat or email.)
NOTICE_SCANS = 300


def _scan_event(i: int, order_no: str, sku: str, batch: str) -> tuple[dict, str]:
    from orderbot.core.warehouse.labels import label_text
    from tests.helpers import sealed_scan

    raw = label_text(SECRET, order_no, sku, batch, 1)
    return sealed_scan(TOKEN, AES_KEY, CORP, i, f"QR_CODE,{raw}", station=f"pack-{i % 4}", nonce="s")


async def _prepare(url: str, connect_args: dict, orders: int) -> list[tuple[dict, str]]:
    """Migrate, add staff, products and `orders` paid one-package orders; return their scan callbacks."""
    from orderbot.config import EXAMPLE_CONFIG, load_config
    from orderbot.core.models import Package
    from orderbot.core.orders.schema import parse_order
    from orderbot.core.orders.service import ingest_order
    from orderbot.core.staff import sync_staff
    from orderbot.db.engine import Database
    from orderbot.db.migrate import upgrade
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    from tests.helpers import add_products

    config = load_config(EXAMPLE_CONFIG, required=True)
    db = Database(create_async_engine(url, connect_args=connect_args)) if connect_args else Database.from_url(url)
    await upgrade(db.engine)
    now = datetime.now(UTC)
    async with db.write() as s:
        await sync_staff(s, config)
        catalogue = [
            ("CASE-IP15-CLR", "iPhone 15 手机壳", "手机壳", None, None),
            ("EB-TWS-WHT", "蓝牙耳机", "蓝牙耳机", "UN3481", None),
        ]
        await add_products(s, config, stock=orders * 2, at=now, products=catalogue, weight_g=None)
    for start in range(0, orders, 500):
        async with db.write() as s:
            for i in range(start, min(orders, start + 500)):
                sku = "EB-TWS-WHT" if i % 5 == 0 else "CASE-IP15-CLR"
                await ingest_order(
                    s,
                    parse_order(
                        {
                            "order_no": f"SO{20260210000000 + i}",
                            # the last NOTICE_SCANS orders' customers have an email address (the notice phase)
                            "customer": {"id": f"C{i % 300:04d}", "province": "浙江"}
                            if i < orders - NOTICE_SCANS
                            else {"id": f"N{i:05d}", "province": "浙江", "email": f"n{i}@example.com"},
                            "amount": "99.00",
                            "origin": "深圳",
                            "urgency": "normal",
                            "dest_country": "US",
                            # a waybill before the scan: the scan itself tells the customer
                            # (else the courier batch does)
                            "tracking_no": f"YT{i:09d}CN",
                            "lines": [{"sku": sku, "qty": 1}],
                        }
                    ),
                    source="bench",
                    config=config,
                    now=now,
                )
    async with db.read() as s:
        rows = (await s.execute(select(Package.sku, Package.batch_no, Package.order_id).order_by(Package.id))).all()
        from orderbot.core.models import Order

        numbers = dict((await s.execute(select(Order.id, Order.order_no))).all())
    await db.dispose()
    return [_scan_event(i, numbers[oid], sku, batch) for i, (sku, batch, oid) in enumerate(rows)]


class _Inbox:
    """What the bench's local SMTP server received (aiosmtpd): the customers' shipment notices by email."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.count += 1
        return "250 OK"


def _serve(url: str, port: int, workdir: Path, smtp_url: str | None = None) -> subprocess.Popen:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ORDERBOT_", "WECOM_"))},
        "ORDERBOT_DATABASE_URL": url,
        "WECOM_TOKEN": TOKEN,
        "WECOM_ENCODING_AES_KEY": AES_KEY,
        "WECOM_CORP_ID": CORP,
        "WECOM_AGENT_ID": "1",
        "ORDERBOT_LABEL_SECRET": SECRET,
        "ORDERBOT_CACHE_DIR": str(workdir / "cache"),
        "ORDERBOT_CONFIG": str(EXAMPLE_CONFIG),
        **({"SMTP_URL": smtp_url} if smtp_url else {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orderbot", "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _run(url: str, connect_args: dict, label: str, orders: int, concurrency: int) -> list[dict]:
    from orderbot.db.engine import Database
    from orderbot.core.models import OutboxMessage
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    from aiosmtpd.controller import Controller

    events = await _prepare(url, connect_args, orders + NOTICE_SCANS)
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        proc = _serve(url, port, Path(tmp))
        try:
            await _wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=60)
            rate, latencies = await _closed_loop(
                f"http://127.0.0.1:{port}/wecom/callback", events[:orders], concurrency, passive=True
            )
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        smtp_port = _free_port()
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
        smtp = Controller(_Inbox(), hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        port = _free_port()
        proc = _serve(url, port, Path(tmp), f"smtp://127.0.0.1:{smtp_port}")
        try:
            await _wait_ready(f"http://127.0.0.1:{port}/healthz", timeout=60)
            await _closed_loop(f"http://127.0.0.1:{port}/wecom/callback", events[orders:], 2, passive=True)
            await asyncio.sleep(2)  # let the worker send the last notices
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            smtp.stop()
    db = Database(create_async_engine(url, connect_args=connect_args)) if connect_args else Database.from_url(url)
    async with db.read() as s:
        rows = (
            await s.execute(
                select(OutboxMessage.created_at, OutboxMessage.sent_at).where(
                    OutboxMessage.destination.like("email:%")  # the customers' notices
                )
            )
        ).all()
    await db.dispose()
    delays = [(sent - created).total_seconds() for created, sent in rows if sent is not None]
    out = [
        {
            "name": f"scan.throughput.{label}",
            "figure": round(rate, 1),
            "unit": "scans/s",
            "target": "≥ 300" if label == "sqlite" else "—",
            "baseline": round(SEED_PEAK_SCANS_PER_S, 2),
            "ratio": round(rate / SEED_PEAK_SCANS_PER_S),
            "ok": rate >= 300 if label == "sqlite" else True,
            "detail": f"{len(events)} encrypted scancode_waitmsg callbacks, {concurrency} connections; headroom "
            f"{rate / SEED_PEAK_SCANS_PER_S:.0f}× the seed's peak (12,000 orders/h = 3.3 scans/s); "
            f"ack p50 {statistics.median(latencies):.1f} ms, p99 {_pct(latencies, 99):.1f} ms",
        }
    ]
    if delays:
        p99 = _pct(delays, 99)
        out.append(
            {
                "name": f"scan.to_customer_notice.{label}",
                "figure": round(p99 * 1000),
                "unit": "ms p99",
                "target": "< 1000 ms",
                "baseline": 23_000,
                "ratio": round(p99 * 1000 / 23_000, 4),
                "ok": p99 < 1.0,
                "detail": f"{len(delays)} notices; baseline = the seed's system, 23 s; "
                f"median {statistics.median(delays) * 1000:.0f} ms",
            }
        )
    return out


async def bench_scans_sqlite(orders: int = 3000, concurrency: int = 8) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        return await _run(f"sqlite+aiosqlite:///{Path(tmp) / 'scans.db'}", {}, "sqlite", orders, concurrency)


async def bench_scans_postgresql(pg_url: str, orders: int = 3000, concurrency: int = 8) -> list[dict]:
    """On a throwaway database created next to the one in `pg_url`, dropped afterwards."""
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"orderbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        return await _run(url, {}, "postgresql", orders, concurrency)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
