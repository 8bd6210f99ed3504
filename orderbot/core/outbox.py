"""The outbox: every reply and notification is a row written in the same transaction as its cause.

A worker claims due rows with a lease (so a crashed worker's rows come back after the lease), sends them, and
marks them sent, retried later, or dead. Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL so several workers
never take the same row; SQLite writers are serialised by `BEGIN IMMEDIATE`.

A message with no way to reach its recipient is queued on the `UNREACHABLE` channel: it is stored dead at once,
with the reason, and never handed to any sender (nothing is marked sent that nobody received).

Chart images are not kept in the row: `enqueue` and `queue_reply` store each one through `core.media` (by its
content hash, kept `IMAGE_TTL`) and the payload's chart holds `{"title", "media": id}`; the outbox worker loads
the bytes when it sends. Rows written before hold the image inline (`{"title", "png": base64}`); both are read.

This module is the only writer of the outbox table (tests/unit/test_architecture.py checks it).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate

from orderbot.core import media
from orderbot.core.models import OutboxMessage
from orderbot.core.sqlutil import affected_rows, dialect_name, insert_once_statements, run_core

LEASE = timedelta(seconds=60)
UNREACHABLE = "unreachable"  # the channel of a message nobody can be reached for: stored dead with the reason
_ENQUEUE_ONCE = insert_once_statements(OutboxMessage.__table__, ["dedupe_key"])
_T = OutboxMessage.__table__
_MARK_SENT = (
    update(_T)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)))
    .values(state="sent", sent_at=bindparam("now"), last_error=bindparam("note"))
)


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    destination: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    first_attempt_at: datetime | None = None


def unreachable_reason(destination: str) -> str:
    """Why a message queued on `UNREACHABLE` for `staff:<id>` / `customer:<id>` / `group:<key>` cannot go."""
    kind, _, who = destination.partition(":")
    if kind == "staff":
        return f"员工 {who} 没有可用的企业微信或钉钉账号（或该渠道未配置），消息无法送达"
    if kind == "customer":
        return f"客户 {who} 没有公众号 openid 也没有邮箱（或对应渠道未配置），无法通知，已转客服任务"
    return f"{destination} 没有可用的渠道，消息无法送达"


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    destination: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    dedupe_key: str | None = None,
) -> bool:
    """Queue one message; with a dedupe key, the same message is queued once however often this runs.
    On the `UNREACHABLE` channel the row is stored dead at once, with the reason."""
    row: dict[str, Any] = {
        "channel": channel,
        "destination": destination,
        "kind": kind,
        "payload": payload,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "dedupe_key": dedupe_key,
    }
    row["payload"] = await images_by_reference(session, payload, now)
    if channel == UNREACHABLE:
        row.update(state="dead", last_error=unreachable_reason(destination))
    if dedupe_key is None:
        session.add(OutboxMessage(**row))
        return True
    result = await run_core(session, _ENQUEUE_ONCE[dialect_name(session)], row)
    return result.rowcount == 1


def _claim_statement(postgresql: bool) -> ReturningUpdate[*tuple[Any, ...]]:
    due = (
        select(_T.c.id)
        .where(_T.c.state == "pending", _T.c.next_attempt_at <= bindparam("now"))
        .order_by(_T.c.id)
        .limit(bindparam("limit"))
    )
    if postgresql:  # locked once, in a materialised CTE: a subquery the planner re-runs could take more rows
        due = select(due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED").c.id)
    return (
        update(_T)
        .where(_T.c.id.in_(due))
        .values(next_attempt_at=bindparam("until"), attempts=_T.c.attempts + 1)
        .returning(
            _T.c.id,
            _T.c.channel,
            _T.c.destination,
            _T.c.kind,
            _T.c.payload,
            _T.c.attempts,
            _T.c.created_at,
            _T.c.first_attempt_at,
        )
    )


_CLAIM = {"sqlite": _claim_statement(False), "postgresql": _claim_statement(True)}


async def claim_due(session: AsyncSession, now: datetime, limit: int = 100) -> list[Claimed]:
    """Take up to `limit` due pending rows, oldest first, leasing them for `LEASE`: one prebuilt UPDATE …
    RETURNING (the worker runs it after every commit that queued something)."""
    rows = await run_core(session, _CLAIM[dialect_name(session)], {"now": now, "limit": limit, "until": now + LEASE})
    return sorted(
        (
            Claimed(
                row.id,
                row.channel,
                row.destination,
                row.kind,
                dict(row.payload),
                row.attempts,
                row.created_at,
                row.first_attempt_at,
            )
            for row in rows
        ),
        key=lambda c: c.id,
    )


async def mark_sent(session: AsyncSession, ids: list[int], now: datetime, note: str | None = None) -> None:
    await run_core(session, _MARK_SENT, {"ids": ids, "now": now, "note": note})


async def mark_retry(
    session: AsyncSession,
    msg_id: int,
    at: datetime,
    error: str,
    *,
    count_attempt: bool = True,
    failed_at: datetime | None = None,
) -> None:
    """Due again at `at`. `failed_at`: a try failed then (the first one starts the retry window)."""
    values: dict[str, Any] = {"next_attempt_at": at, "last_error": error[:2000]}
    if not count_attempt:
        values["attempts"] = OutboxMessage.attempts - 1
    if failed_at is not None:
        values["first_attempt_at"] = func.coalesce(OutboxMessage.first_attempt_at, failed_at)
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == msg_id).values(**values))


def _retry_many_statement(count_attempt: bool, failed: bool) -> Update:
    values: dict[str, Any] = {"next_attempt_at": bindparam("at"), "last_error": bindparam("error")}
    if not count_attempt:
        values["attempts"] = _T.c.attempts - 1
    if failed:
        values["first_attempt_at"] = func.coalesce(_T.c.first_attempt_at, bindparam("failed_at"))
    return update(_T).where(_T.c.id.in_(bindparam("ids", expanding=True))).values(**values)


_RETRY_MANY = {(c, f): _retry_many_statement(c, f) for c in (True, False) for f in (True, False)}


async def mark_retry_many(
    session: AsyncSession,
    ids: list[int],
    at: datetime,
    error: str,
    *,
    count_attempt: bool = False,
    failed_at: datetime | None = None,
) -> None:
    """`mark_retry` for many rows in one statement (a destination's backlog going back to wait)."""
    if not ids:
        return
    params: dict[str, Any] = {"ids": ids, "at": at, "error": error[:2000]}
    if failed_at is not None:
        params["failed_at"] = failed_at
    await run_core(session, _RETRY_MANY[(count_attempt, failed_at is not None)], params)


async def probe(session: AsyncSession, channel: str, now: datetime) -> bool:
    """Make the oldest message of `channel` that waits out a back-off due now: one try tells whether the
    platform is back (a half-open circuit breaker), without waiting out every message's back-off."""
    oldest = (
        select(_T.c.id)
        .where(
            _T.c.channel == channel,
            _T.c.state == "pending",
            _T.c.first_attempt_at.is_not(None),
            _T.c.next_attempt_at > now,
        )
        .order_by(_T.c.id)
        .limit(1)
    )
    if dialect_name(session) == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    result = await session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(oldest)).values(next_attempt_at=now)
    )
    return affected_rows(result) == 1


async def uncount(session: AsyncSession, ids: list[int]) -> None:
    """Take back the attempt a claim counted for rows this worker is still sending (a lease that ran out
    while the send was in flight): the send in flight records the outcome."""
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(attempts=OutboxMessage.attempts - 1)
    )


async def pull_forward(session: AsyncSession, channel: str, now: datetime) -> int:
    """A channel works again: its messages waiting out a back-off are due now (they never wait out a long
    back-off after the outage ended). Rows only waiting for a rate window are left alone."""
    waiting = select(_T.c.id).where(
        _T.c.channel == channel, _T.c.state == "pending", _T.c.first_attempt_at.is_not(None), _T.c.next_attempt_at > now
    )
    if dialect_name(session) == "postgresql":  # rows another worker's transaction holds are its business:
        waiting = waiting.with_for_update(skip_locked=True)  # skip them, never wait (or deadlock) for them
    result = await session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(waiting)).values(next_attempt_at=now)
    )
    return affected_rows(result)


async def mark_dead(session: AsyncSession, msg_ids: int | list[int], error: str) -> None:
    ids = [msg_ids] if isinstance(msg_ids, int) else msg_ids
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(state="dead", last_error=error[:2000])
    )


async def save_progress(session: AsyncSession, msg_id: int, payload: dict[str, Any]) -> None:
    """Remember how far a multi-part message got, so a retry never re-sends the parts already delivered."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == msg_id).values(payload=payload))


async def resend(session: AsyncSession, msg_id: int, now: datetime) -> bool:
    """Put a dead message back in the queue (`orderbot outbox --resend ID`)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == msg_id, OutboxMessage.state == "dead")
        .values(state="pending", attempts=0, next_attempt_at=now, first_attempt_at=None)
    )
    return affected_rows(result) == 1


async def queued_keys(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these dedupe keys a message was already queued under (a job's "done today?")."""
    found = await session.execute(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys)))
    return {key for key in found.scalars() if key is not None}


async def listing(session: AsyncSession, *, dead: bool, limit: int = 200) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.state == ("dead" if dead else "pending"))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state))
    return {state: n for state, n in rows}


IMAGE_TTL = timedelta(days=7)  # how long a queued message's chart images are kept (each new use extends it)
PASSIVE_NOTE = "被动回复"  # `last_error` of a reply stored as sent because it went back in the HTTP response
_QUEUE_REPLY = insert(_T).returning(_T.c.id)
_REOPEN_PASSIVE = (
    update(_T)
    .where(
        _T.c.id == bindparam("outbox_id"),
        or_(
            and_(_T.c.state == "sent", _T.c.last_error == PASSIVE_NOTE),
            and_(_T.c.state == "pending", _T.c.next_attempt_at > bindparam("now")),  # held
        ),
    )
    .values(state="pending", sent_at=None, last_error=None, next_attempt_at=bindparam("now"))
)


async def images_by_reference(session: AsyncSession, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    """`payload` with each inline chart image (`{"title", "png": base64}`) stored through `core.media` and
    replaced by its reference (`{"title", "media": id}`); the payload itself when it has none."""
    charts = payload.get("charts")
    if not isinstance(charts, list) or not any(isinstance(c, dict) and "png" in c for c in charts):
        return payload
    stored: list[Any] = []
    for chart in charts:
        if isinstance(chart, dict) and "png" in chart:
            media_id, _ = await media.store_once(
                session, base64.b64decode(chart["png"]), "image/png", now=now, ttl=IMAGE_TTL
            )
            chart = {**{k: v for k, v in chart.items() if k != "png"}, "media": media_id}
        stored.append(chart)
    return {**payload, "charts": stored}


async def queue_reply(
    session: AsyncSession,
    *,
    channel: str,
    destination: str,
    payload: dict[str, Any],
    now: datetime,
    dedupe_key: str,
    passive: bool = False,
    due: datetime | None = None,
) -> int:
    """The row of the answer to an inbound event, its id: one prebuilt INSERT … RETURNING (the inbox pipeline's
    hot path). `passive`: the answer went back in the HTTP response instead; the row is stored as sent (the
    record), and `reopen_passive` queues it if that response did not go out after all. `due`: a pending row
    the outbox leaves alone until then (a reply its caller sends itself and confirms with `mark_sent`)."""
    row = {
        "channel": channel,
        "destination": destination,
        "kind": "reply",
        "payload": await images_by_reference(session, payload, now),
        "state": "sent" if passive else "pending",
        "attempts": 0,
        "next_attempt_at": due or now,
        "created_at": now,
        "sent_at": now if passive else None,
        "last_error": PASSIVE_NOTE if passive else None,
        "dedupe_key": dedupe_key,
    }
    return int((await run_core(session, _QUEUE_REPLY, row)).scalar_one())


async def reopen_passive(
    session: AsyncSession, outbox_id: int, now: datetime, progress: dict[str, Any] | None = None
) -> bool:
    """A reply stored as answered in the HTTP response whose response did not go out, or a held one: pending,
    due now. `progress`: how far its caller got sending it (the frames the platform acknowledged), kept in the
    row like the worker's own (`save_progress`), so the outbox resumes after them instead of doubling them."""
    reopened = (await run_core(session, _REOPEN_PASSIVE, {"outbox_id": outbox_id, "now": now})).rowcount == 1
    if reopened and progress:
        payload = (await session.execute(select(_T.c.payload).where(_T.c.id == outbox_id))).scalar_one()
        await save_progress(session, outbox_id, {**payload, "_progress": progress})
    return reopened
