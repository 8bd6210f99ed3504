"""The dispatcher: message → who is asking → may they → intent → handler → `Reply`.

Two phases, so slow reading never holds the write lock: `prepare` (outside the pipeline's transaction) resolves
the asker, parses the text, checks permission and runs read-only handlers, charts included; the call inside the
transaction runs write intents and card actions with the unit of work, and audits them. Permission is checked
before anything else; unknown people get help only; a write is never executed on a guess.

`prepare` reads in a light session (on SQLite: statements on the event loop thread, for indexed lookups); a
route marked `heavy` (reports, aggregates) runs its handler in a `read(heavy=True)` session instead, opened after
the light one is closed, so a long query never stalls the event loop. A scan needs no reading beforehand: its
asker is looked up inside the unit of work (one indexed row, remembered for the rest of that unit of work), which
spares a whole read session per scan, and its handler decides everything before its first write, so it runs
without a savepoint.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.errors import DomainError
from orderbot.core.models import AuditEntry, Staff
from orderbot.db.engine import Database
from orderbot.messaging.addresses import Addresses
from orderbot.bot.handlers import ROUTES, Context, Route, help_reply
from orderbot.messaging.inbound import CardAction, ChatMessage, EnterAgent, InboundEvent, ScanEvent
from orderbot.bot.intents import IntentParser
from orderbot.bot.reply import Reply
from orderbot.bot.strangers import StrangerLimit

Charts = Callable[..., Awaitable[bytes]]
UNKNOWN_PERSON = ("你好！你还不在 OrderBot 的员工名录里，暂时只能看帮助。请联系管理员在业务配置的 [[staff]] 中加上你的"
                  "企业微信/钉钉账号。")


@dataclass(frozen=True)
class Asker:
    staff_id: str
    name: str
    roles: frozenset[str]
    chat_id: str | None = None


def allowed(route: Route, roles: frozenset[str]) -> bool:
    return route.roles is None or bool(route.roles & roles) or "admin" in roles


@dataclass
class Prepared:
    reply: Reply | None = None  # final answer (read intents, refusals, questions)
    route: Route | None = None  # a write or action still to run in the transaction
    args: Any = None
    asker: Asker | None = None
    asker_later: bool = False  # look the asker up inside the unit of work (scans)


# Who is asking, by the platform's user id: built once (building a SELECT costs more than running it).
_STAFF_COLUMNS = (Staff.id, Staff.name, Staff.roles)
_ASKER_BY = {platform: select(*_STAFF_COLUMNS).where(column == bindparam("user_id"), Staff.active.is_(True))
             for platform, column in (("wecom", Staff.wecom_userid), ("dingtalk", Staff.dingtalk_userid),
                                      (None, Staff.id))}
# Routes whose handler checks everything before its first write, so a refusal (DomainError) never leaves half a
# change: they run without the savepoint (SAVEPOINT, RELEASE and the session's bookkeeping for them cost a good
# share of a whole scan). A DomainError that still escapes one fails the event as a whole (the unit of work rolls
# back) instead of committing what it wrote.
_NO_SAVEPOINT = frozenset({"scan"})


_DUTY = re.compile(r"^(?:今天|今日)?值班(?:组长)?(?:改为|改成|换成|换为|是)\s*(\S+)$")
_WAYBILL = re.compile(r"(?:申请|生成|打印|出)面单\s*(SO\d{12,})", re.IGNORECASE)


_ALERT_LIST = frozenset({"告警列表", "告警", "查看告警", "当前告警", "alerts", "alert list"})


def _command(text: str) -> tuple[str, str] | None:
    t = text.strip()
    if m := _DUTY.match(t):
        return "duty.set", m.group(1)
    if m := _WAYBILL.search(t):
        return "waybill.check", m.group(1).upper()
    if t.lower() in _ALERT_LIST:
        return "alert.list", ""
    return None


@dataclass(frozen=True)
class _Heavy:
    """A heavy read route, allowed and understood: its handler runs once the light session is closed."""
    route: Route
    arg: Any
    asker: Asker


async def _dispatch(route: Route, arg, ctx: Context, *, question: Reply | None = None) -> Prepared | _Heavy:
    """Permission first, before asking anything back; then a question, a write for the transaction, or the
    read-only answer itself (a heavy one is handed back to run in its own session)."""
    if not allowed(route, ctx.asker.roles):
        return Prepared(Reply(text=route.refusal))
    if question is not None:
        return Prepared(question)
    if route.write:
        return Prepared(route=route, args=arg, asker=ctx.asker)
    if route.heavy:
        return _Heavy(route, arg, ctx.asker)
    return await _answer(route, arg, ctx)


async def _answer(route: Route, arg, ctx: Context) -> Prepared:
    try:
        return Prepared(await route.handler(arg, ctx))
    except DomainError as exc:
        return Prepared(Reply(text=exc.message))


class Dispatcher:
    def __init__(self, db: Database, parser: IntentParser | None, config: BusinessConfig,
                 clock: Callable[[], datetime], charts: Charts | None = None, *, addresses: Addresses | None = None,
                 label_secret: str | None = None):
        """`parser` may be set later (the app builds it at start-up from the master data)."""
        self.db, self.parser, self.config, self.clock, self.charts = db, parser, config, clock, charts
        self.addresses = addresses or Addresses(set())
        self.label_secret = label_secret
        self.strangers = StrangerLimit()

    def _context(self, asker, session, now) -> Context:
        return Context(asker, session, now, self.config, self.charts, self.parser, self.addresses, self.label_secret)

    async def asker(self, session: AsyncSession, event: InboundEvent) -> Asker | None:
        o = event.origin
        stmt = _ASKER_BY.get(o.platform, _ASKER_BY[None])
        row = (await session.execute(stmt, {"user_id": o.user_id})).first()
        if row is None:
            return None
        return Asker(row.id, row.name, frozenset(row.roles), o.chat_id)

    async def _asker_in_unit(self, session: AsyncSession, event: InboundEvent) -> Asker | None:
        """The asker, looked up once per unit of work (a batch of scans from one scanner shares the lookup)."""
        known = session.info.setdefault("orderbot.askers", {})
        key = (event.origin.platform, event.origin.user_id, event.origin.chat_id)
        if key not in known:
            known[key] = await self.asker(session, event)
        return known[key]

    async def prepare(self, event: InboundEvent) -> Prepared:
        if isinstance(event, ScanEvent):  # nothing to read first; an unbound scanner is refused inside the scan
            return Prepared(route=ROUTES["scan"], args=event, asker_later=True)
        now = self.clock()
        async with self.db.read() as session:
            outcome = await self._prepare(event, session, now)
        if isinstance(outcome, _Heavy):
            async with self.db.read(heavy=True) as session:
                return await _answer(outcome.route, outcome.arg, self._context(outcome.asker, session, now))
        return outcome

    async def _prepare(self, event: InboundEvent, session: AsyncSession, now: datetime) -> Prepared | _Heavy:
        asker = await self.asker(session, event)
        if asker is None:
            if isinstance(event, EnterAgent) or not self.strangers.allow((event.origin.platform,
                                                                          event.origin.user_id), now):
                return Prepared(None)  # a stranger's flood gets silence, not a reply per message
            return Prepared(Reply(text=UNKNOWN_PERSON))
        ctx = self._context(asker, session, now)
        if isinstance(event, ChatMessage):
            return await self._message(event, ctx)
        if isinstance(event, CardAction):
            action, _, arg = event.key.partition(":")
            route = ROUTES.get(f"action.{action}")
            if route is None:
                return Prepared(Reply(text="这个按钮已失效或不认识，请重新发起操作。"))
            return await _dispatch(route, arg, ctx)
        if isinstance(event, EnterAgent):
            return Prepared(None)
        return Prepared(None)

    async def _message(self, event: ChatMessage, ctx: Context) -> Prepared | _Heavy:
        command = _command(event.text)
        if command is not None:  # a few operational commands outside INTENTS.md
            name, arg = command
            return await _dispatch(ROUTES[name], arg, ctx)
        intent = self.parser.parse(event.text, ctx.now)
        if intent.name == "unknown":
            mine = {name for name, r in ROUTES.items() if not name.startswith("action.") and allowed(r, ctx.asker.roles)}
            suggestions = [n for n in self.parser.closest_intents(event.text, allowed=mine, k=3)]
            return Prepared(help_reply(ctx.asker.roles, suggestions, not_understood=True))
        route = ROUTES[intent.name]
        return await _dispatch(route, intent, ctx,
                               question=route.clarify(intent) if intent.needs_clarification else None)

    async def __call__(self, event: InboundEvent, session: AsyncSession, prepared: Prepared | None = None) -> Reply | None:
        if prepared is None:
            prepared = await self.prepare(event)
        if prepared.route is None:
            return prepared.reply
        if prepared.asker_later:
            prepared.asker = await self._asker_in_unit(session, event)
        ctx = self._context(prepared.asker, session, self.clock())
        if prepared.route.name in _NO_SAVEPOINT:
            reply = await prepared.route.handler(prepared.args, ctx)
        else:
            try:
                async with session.begin_nested():  # a refused write leaves nothing half-done
                    reply = await prepared.route.handler(prepared.args, ctx)
            except DomainError as exc:
                return Reply(text=exc.message)
        if not prepared.route.audit or prepared.asker is None:
            return reply
        session.add(AuditEntry(at=ctx.now, actor=ctx.asker.staff_id, action=prepared.route.name,
                               subject=str(reply.meta.get("subject", "")), detail=reply.meta.get("audit"),
                               chat=event.origin.chat_id))
        return reply


