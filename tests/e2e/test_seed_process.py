"""Big SQLite seeds generate in a child process (orderbot.seed_worker): the same rows as in-process, and no child,
no half-written data and no stray transaction left behind when the child dies, the write fails or we are cancelled."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, UTC

import pytest

from orderbot.tools import seed as seed_mod
from orderbot.tools import seed_worker
from orderbot.tools.seed import seed_database
from orderbot.tools.seed_worker import GeneratorFailed

from tests.integration.test_seed import _fingerprint, _wipe

NOW = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)


@pytest.fixture
def sqlite_only(db):
    if db.dialect != "sqlite":
        pytest.skip("the generator process is for SQLite seeds")
    return db


@pytest.fixture
def in_process(monkeypatch):
    monkeypatch.setattr(seed_mod, "PROCESS_MIN_ORDERS", 10**9)


@pytest.fixture
def via_process(monkeypatch):
    monkeypatch.setattr(seed_mod, "PROCESS_MIN_ORDERS", 0)
    monkeypatch.setattr(seed_mod, "CHUNK_ORDERS", 700)  # several chunks, so the pipe really streams


def _counts(path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("orders", "customers", "order_events", "stock_movements")
        }
    finally:
        conn.close()


def _assert_untouched(db) -> None:
    path = db.engine.url.database
    assert _counts(path) == {"orders": 0, "customers": 0, "order_events": 0, "stock_movements": 0}
    conn = sqlite3.connect(path)
    try:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"ix_orders_tracking_no", "ix_order_events_order_at", "ix_stock_movements_sku"} <= names
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert not seed_worker._LIVE, "a generator process was left behind"


@pytest.mark.slow
async def test_the_child_process_writes_exactly_the_rows_of_the_in_process_generator(sqlite_only, config, monkeypatch):
    db = sqlite_only
    monkeypatch.setattr(seed_mod, "PROCESS_MIN_ORDERS", 10**9)
    here = await seed_database(db, orders=2500, days=20, seed=5, config=config, now=NOW)
    expected = await _fingerprint(db)
    assert "wait_for_rows" in here.phases and "decode" not in here.phases
    await _wipe(db)
    monkeypatch.setattr(seed_mod, "PROCESS_MIN_ORDERS", 0)
    monkeypatch.setattr(seed_mod, "CHUNK_ORDERS", 700)
    there = await seed_database(db, orders=2500, days=20, seed=5, config=config, now=NOW)
    assert await _fingerprint(db) == expected
    assert there.counts == here.counts
    assert {"child_generate", "decode", "indexes", "analyze"} <= set(there.phases)
    assert not seed_worker._LIVE


@pytest.mark.slow
async def test_a_child_that_dies_fails_the_seed_and_leaves_the_database_as_it_was(
    sqlite_only, config, via_process, monkeypatch
):
    db = sqlite_only
    real_chunks = seed_worker.GeneratorProcess.chunks

    def chunks_then_die(self):
        for i, item in enumerate(real_chunks(self)):
            if i == 1:
                os.kill(self.pid, signal.SIGKILL)  # as the OOM killer would
            yield item

    monkeypatch.setattr(seed_worker.GeneratorProcess, "chunks", chunks_then_die)
    with pytest.raises(GeneratorFailed, match="ended early"):
        await seed_database(db, orders=6000, days=20, seed=5, config=config, now=NOW)
    _assert_untouched(db)
    monkeypatch.setattr(seed_worker.GeneratorProcess, "chunks", real_chunks)
    summary = await seed_database(db, orders=1500, days=20, seed=5, config=config, now=NOW)  # and it can retry
    assert summary.orders == 1500


async def test_a_failing_write_kills_the_child_and_rolls_back(sqlite_only, config, via_process, monkeypatch):
    db = sqlite_only
    real = seed_mod._insert_sql
    monkeypatch.setattr(
        seed_mod, "_insert_sql", lambda table, cols: real(table, cols).replace("scans", "no_such_table")
    )
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        await seed_database(db, orders=3000, days=20, seed=5, config=config, now=NOW)
    _assert_untouched(db)


@pytest.mark.slow
async def test_cancelling_the_seed_rolls_back_and_reaps_the_child(sqlite_only, config, via_process, capsys):
    db = sqlite_only
    for delay in (0.0, 0.8, 2.0):  # before the load, while loading, while building indexes (roughly)
        task = asyncio.create_task(seed_database(db, orders=30_000, days=20, seed=5, config=config, now=NOW))
        await asyncio.sleep(delay)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:  # the machine was fast enough to finish first: nothing to check this round
            await _wipe(db)
            continue
        _assert_untouched(db)
    assert seed_mod.INTERRUPTED in capsys.readouterr().err  # at least one round stopped a load in progress


@pytest.mark.slow
def test_ctrl_c_on_the_cli_rolls_back_and_leaves_no_process(tmp_path):
    """`orderbot seed` in a terminal: SIGINT reaches the whole process group, the parent rolls back, the child
    goes with it, and the file has no business data."""
    path = tmp_path / "cli.db"
    env = {**os.environ, "ORDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderbot.cli", "seed", "--orders", "200000", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    children: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not children:  # wait until the generator process is running
        time.sleep(0.2)
        children = _children(proc.pid)
        assert proc.poll() is None, proc.communicate()
    assert children, "no generator process appeared"
    time.sleep(1.5)  # well into the load
    with open(f"/proc/{proc.pid}/status") as f:  # how the seed handles SIGINT, for the message below
        dispositions = [line.strip() for line in f if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
    out, err = proc.communicate(timeout=60)
    # once, in a full run on a busy machine, the seed finished with 0 as if no SIGINT had come: say what it wrote
    assert proc.returncode == 130, (dispositions, out.decode()[-500:], err.decode()[-3000:])
    assert "seed 已中断" in err.decode() and "Traceback" not in err.decode()
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}"), f"generator process {pid} survived"
    assert _counts(path) == {"orders": 0, "customers": 0, "order_events": 0, "stock_movements": 0}


def _children(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except FileNotFoundError:
        return set()
