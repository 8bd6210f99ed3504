"""One notice to the admins per burst of messages that went dead, through a channel that works.

The outbox worker tells `note()` of every message it gives up on (retry window over, permanent refusal,
malformed row, no such channel). `flush()` queues, once the burst has settled (`settle` after its first death,
longer than the worker's back-off cap, so one outage's messages die into one burst) and at most once per
`quiet` period, one summary per admin
(staff with the `admin` role): in chat through the first of their platforms that is configured and not among the
channels that just failed, and by email when SMTP is set and they have an address. Deaths during the quiet
period are kept and summed into the next notice, so a burst of 5,000 is one message, not 5,000.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from orderbot.messaging.reply import Reply
from orderbot.core import outbox
from orderbot.core.models import Staff
from orderbot.db.engine import Database

log = logging.getLogger("orderbot.outbox")

ADMIN_ROLE = "admin"
NOTICE_KIND = "admin_notice"  # the worker never sends a notice about a dead notice
SHOW_REASONS = 5


class DeadLetterNotices:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        channels: set[str],
        *,
        quiet: timedelta = timedelta(hours=1),
        settle: timedelta = timedelta(minutes=15),
    ):
        self.db, self.clock, self.channels, self.quiet, self.settle = db, clock, channels, quiet, settle
        self.pending: list[tuple[str, str, str]] = []  # (channel, destination, reason)
        self.first_pending_at: datetime | None = None
        self.last_sent: datetime | None = None
        self.sent = 0  # notices queued (per admin and channel), for tests and /metrics

    def note(self, channel: str, destination: str, reason: str) -> None:
        if not self.pending:
            self.first_pending_at = self.clock()
        self.pending.append((channel, destination, reason))

    async def flush(self) -> int:
        """Queue the summary if deaths are pending and the quiet period is over; returns notices queued."""
        now = self.clock()
        if not self.pending or (self.last_sent is not None and now - self.last_sent < self.quiet):
            return 0
        if self.first_pending_at is not None and now - self.first_pending_at < self.settle:
            return 0
        burst, self.pending = self.pending, []
        failing = {channel for channel, _, _ in burst}
        reply = self._summary(burst)
        queued = 0
        async with self.db.write() as session:
            admins = [
                s
                for s in (await session.execute(select(Staff).where(Staff.active.is_(True)))).scalars()
                if ADMIN_ROLE in (s.roles or [])
            ]
            for person in admins:
                for channel, destination in self._routes(person, failing):
                    await outbox.enqueue(
                        session,
                        channel=channel,
                        destination=destination,
                        kind=NOTICE_KIND,
                        payload=reply.to_dict(),
                        now=now,
                    )
                    queued += 1
        self.last_sent = now
        self.sent += queued
        if not queued:
            log.error(
                "%d outbox messages are dead and no admin can be told (no staff with the admin role and a "
                "working channel): see `orderbot outbox --dead`",
                len(burst),
            )
        return queued

    def _routes(self, person: Staff, failing: set[str]) -> list[tuple[str, str]]:
        routes: list[tuple[str, str]] = []
        if person.wecom_userid and "wecom" in self.channels and "wecom" not in failing:
            routes.append(("wecom", f"user:{person.wecom_userid}"))
        elif person.dingtalk_userid and "dingtalk" in self.channels and "dingtalk" not in failing:
            routes.append(("dingtalk", f"user:{person.dingtalk_userid}"))
        elif "sandbox" in self.channels:
            routes.append(("sandbox", f"user:{person.id}"))
        if person.email and "email" in self.channels:
            routes.append(("email", f"email:{person.email}"))
        return routes

    @staticmethod
    def _summary(burst: list[tuple[str, str, str]]) -> Reply:
        by_channel = Counter(channel for channel, _, _ in burst)
        reasons = Counter(reason for _, _, reason in burst)
        lines = [
            f"有 {len(burst)} 条消息无法送达，已转为死信："
            + "、".join(f"{channel} {n} 条" for channel, n in by_channel.most_common())
        ]
        lines += [f"· {reason}（{n} 条）" for reason, n in reasons.most_common(SHOW_REASONS)]
        if len(reasons) > SHOW_REASONS:
            lines.append(f"· 另有 {len(reasons) - SHOW_REASONS} 种原因")
        lines.append("查看：orderbot outbox --dead；问题解决后重发：orderbot outbox --resend ID")
        return Reply(title="OrderBot：消息无法送达", text="\n".join(lines))
