"""Pending confirmations: a write read from typed text waits here for its asker's 确认 (or a choice between the
closest readings waits for a pick). The use cases below are the only writers of `pending_confirmations`.

A confirmation belongs to one person, lives `TTL` (10 minutes), and is decided once: `decide` moves it from
pending to done or cancelled in a single conditional UPDATE, so two clicks racing each other cannot both win.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import PendingConfirmation
from orderbot.core.sqlutil import affected_rows

TTL = timedelta(minutes=10)
# How long after it was asked a typed "1" still refers to a confirmation (so a late "1" hears "expired" or
# "already done" instead of being read as a new message).
TYPED_WINDOW = timedelta(minutes=30)


def new_token() -> str:
    """The id carried by the buttons ('confirm:<token>'); unguessable, so a key cannot be forged for another's."""
    return secrets.token_hex(8)


async def propose(
    session: AsyncSession,
    *,
    token: str,
    kind: str,
    staff_id: str,
    chat: str | None,
    readings: list[dict[str, Any]],
    summary: str,
    now: datetime,
    lang: str = "zh",
) -> PendingConfirmation:
    """Record what waits for the asker: one reading to confirm (`kind='confirm'`) or several to choose from;
    `lang` is the language they wrote in, so what follows the click answers in it too."""
    row = PendingConfirmation(
        token=token,
        kind=kind,
        staff_id=staff_id,
        chat=chat or "",
        payload={"readings": readings, "lang": lang},
        summary=summary,
        state="pending",
        created_at=now,
        expires_at=now + TTL,
    )
    session.add(row)
    await session.flush()
    return row


async def find(session: AsyncSession, token: str) -> PendingConfirmation | None:
    stmt = select(PendingConfirmation).where(PendingConfirmation.token == token)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar()


async def latest(session: AsyncSession, staff_id: str, chat: str | None, now: datetime) -> PendingConfirmation | None:
    """The asker's most recent confirmation in this conversation, if asked within `TYPED_WINDOW`."""
    return (
        await session.execute(
            select(PendingConfirmation)
            .where(
                PendingConfirmation.staff_id == staff_id,
                PendingConfirmation.chat == (chat or ""),
                PendingConfirmation.created_at > now - TYPED_WINDOW,
            )
            .order_by(PendingConfirmation.id.desc())
            .limit(1)
        )
    ).scalar()


@dataclass(frozen=True)
class Decision:
    """How a click on a confirmation went: `ok`, or why not (missing, not_yours, expired, done, cancelled)."""

    outcome: str
    row: PendingConfirmation | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def why_not(row: PendingConfirmation | None, staff_id: str, now: datetime) -> str | None:
    """Why this person cannot decide this row now (None: they can)."""
    if row is None:
        return "missing"
    if row.state != "pending":
        return row.state
    if row.staff_id != staff_id:
        return "not_yours"
    if row.expires_at <= now:
        return "expired"
    return None


async def decide(
    session: AsyncSession, token: str, *, staff_id: str, cancel: bool = False, choice: int | None = None, now: datetime
) -> Decision:
    """Close the confirmation once: by its asker, before it expires, while still pending."""
    done = await session.execute(
        update(PendingConfirmation)
        .where(
            PendingConfirmation.token == token,
            PendingConfirmation.state == "pending",
            PendingConfirmation.staff_id == staff_id,
            PendingConfirmation.expires_at > now,
        )
        .values(state="cancelled" if cancel else "done", decided_at=now, choice=choice)
        .execution_options(synchronize_session=False)
    )
    row = await find(session, token)
    if affected_rows(done) == 1:
        return Decision("ok", row)
    return Decision(why_not(row, staff_id, now) or "missing", row)
