"""The inbox (`inbound_events`): every inbound event's dedupe key, and chat events waiting to be processed.

This module is the only writer of the table (tests/unit/test_architecture.py checks it). Two kinds of rows:

* chat events (the inbox pipeline, `messaging/pipeline.py`): `accept` stores the event itself (state 'new')
  under its dedupe key, all of a burst in one statement; `mark_done` turns it 'done' in the transaction of its
  effect (only if it was still 'new', so it is processed once); `mark_failed` records why it could not be;
  `unprocessed` lists what a crash left 'new';
* order and tracking events (`core/orders/intake.py`, `core/tracking.py`): `claim_event` records the key in the
  transaction of the effect (state 'done'); `mark_orphan` keeps a tracking push for an unknown number.

The accept and claim statements are on the hottest path (every acknowledgement): they are built once here, so
SQLAlchemy compiles them once, and run with `run_core`; on a SQLite file the pipeline runs `accept_sqlite` on a
plain `sqlite3` connection (one multi-row statement per burst).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.keys import fit_key
from orderbot.core.models import InboundEvent
from orderbot.core.sqlutil import dialect_name, run_core

MAX_BATCH = 64  # rows `accept_sqlite` builds a statement for at most (the pipeline's batch)

_T = InboundEvent.__table__
# `INSERT … ON CONFLICT (source, key) DO NOTHING RETURNING id, source, key`, per dialect.
_CLAIM = {
    name: dml.insert(_T).on_conflict_do_nothing(index_elements=["source", "key"])
    for name, dml in (("sqlite", sqlite), ("postgresql", postgresql))
}
_ACCEPT = {name: claim.returning(_T.c.id, _T.c.source, _T.c.key) for name, claim in _CLAIM.items()}
_DONE = update(_T).where(_T.c.id == bindparam("inbox_id"), _T.c.state == "new").values(state="done")
_FAILED = (
    update(_T)
    .where(_T.c.id == bindparam("inbox_id"), _T.c.state == "new")
    .values(state="failed", error=bindparam("error"))
)

Accepted = tuple[int, str, str]  # (inbox id, source, key) of a row this call inserted


async def accept(
    session: AsyncSession, rows: Sequence[tuple[str, str, dict[str, Any]]], now: datetime
) -> list[Accepted]:
    """Store chat events as 'new' inbox rows: `rows` are (source, key, event as a dict), keys distinct and fitted
    (`keys.fit_key`). What it inserted, as (id, source, key); a key seen before is left out."""
    if not rows:
        return []
    values = [{"source": s, "key": k, "received_at": now, "state": "new", "payload": p} for s, k, p in rows]
    statement = _ACCEPT[dialect_name(session)]
    conn = await session.connection()
    # executemany with RETURNING, compiled once (run_sync: SQLAlchemy's async facade refuses an executemany that
    # happens not to suspend)
    returned = await conn.run_sync(lambda sync: sync.execute(statement, values).all())
    return [(int(i), str(s), str(k)) for i, s, k in returned]


@functools.lru_cache(maxsize=MAX_BATCH)
def _accept_sql(rows: int) -> str:
    values = ",".join(["(?, ?, ?, 'new', ?)"] * rows)
    return (
        f"INSERT INTO inbound_events (source, key, received_at, state, payload) VALUES {values} "
        "ON CONFLICT (source, key) DO NOTHING RETURNING id, source, key"
    )


def accept_sqlite(
    rows: Sequence[tuple[str, str, dict[str, Any]]], received_at: str
) -> Callable[[sqlite3.Connection], list[Accepted]]:
    """`accept` as work for a plain `sqlite3` connection inside its transaction (`Database.raw_write`): one
    statement for the whole burst, the hottest write of all. The statement and its parameters are prepared here,
    before the write lock is taken. `received_at` as the SQLite column stores it (`db.engine.sqlite_timestamp`)."""
    sql = _accept_sql(len(rows)) if rows else ""
    params = [v for source, key, payload in rows for v in (source, key, received_at, json.dumps(payload))]

    def work(conn: sqlite3.Connection) -> list[Accepted]:
        if not rows:
            return []
        return [(int(i), str(s), str(k)) for i, s, k in conn.execute(sql, params).fetchall()]

    return work


async def mark_done(session: AsyncSession, inbox_id: int) -> bool:
    """Take an accepted event for processing in this transaction: False if it is no longer 'new' (processed
    already, or failed), so an event is processed once."""
    return (await run_core(session, _DONE, {"inbox_id": inbox_id})).rowcount == 1


async def mark_failed(session: AsyncSession, inbox_id: int, error: str) -> bool:
    """Record why a 'new' event could not be processed (it is then not retried); False if it was not 'new'."""
    return (await run_core(session, _FAILED, {"inbox_id": inbox_id, "error": error[:2000]})).rowcount == 1


async def unprocessed(session: AsyncSession, received_before: datetime, limit: int = 1000) -> list[tuple[int, Any]]:
    """Chat events still 'new' (a crash, or acknowledged and not yet processed) received at or before
    `received_before`, oldest first: (inbox id, the event as stored)."""
    rows = await session.execute(
        select(_T.c.id, _T.c.payload)
        .where(_T.c.state == "new", _T.c.payload.is_not(None), _T.c.received_at <= received_before)
        .order_by(_T.c.id)
        .limit(limit)
    )
    return [(int(i), payload) for i, payload in rows]


async def claim_event(session: AsyncSession, source: str, key: str, now: datetime) -> bool:
    """Record an inbound event's dedupe key in the current transaction; False if it was seen before.

    Because the key is written in the same transaction as the event's effect, a crash between the two loses
    neither: a rolled-back effect rolls back its key too, and the platform's retry is processed afresh.
    """
    row = {"source": source, "key": fit_key(key), "received_at": now}
    return (await run_core(session, _CLAIM[dialect_name(session)], row)).rowcount == 1


async def mark_orphan(session: AsyncSession, source: str, key: str, payload: Any, error: str) -> None:
    """Keep an event claimed in this transaction whose subject is unknown (a tracking push for a number no order
    has yet): state 'orphan', with its raw payload and the reason."""
    await session.execute(
        update(_T)
        .where(_T.c.source == source, _T.c.key == fit_key(key))
        .values(state="orphan", payload=payload, error=error)
    )
