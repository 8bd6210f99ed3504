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

A write read from text is not run: `prepare` describes it (`Route.preview`) and the transaction records a pending
confirmation (`core.confirmations`) answered with 确认 / 取消 buttons; the asker's click (or typed 1 / 0) decides
it once, inside the transaction that runs the write. Below the clarification threshold the closest readings are
offered as buttons the same way. Card buttons on alerts and scans stay one step: they already say what they do.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.channels import CHANNEL_ALIASES
from orderbot.core import audit, confirmations
from orderbot.core.errors import DomainError
from orderbot.core.staff import identify
from orderbot.db.engine import Database
from orderbot.messaging.addresses import Addresses
from orderbot.bot.handlers import ROUTES, Context, Route, help_reply
from orderbot.bot.handlers.base import Asker, allowed
from orderbot.messaging.inbound import CardAction, ChatMessage, EnterAgent, InboundEvent, ScanEvent
from orderbot.bot.intents import IntentParser
from orderbot.messaging.reply import Reply
from orderbot.bot import confirm
from orderbot.bot.strangers import StrangerLimit

Charts = Callable[..., Awaitable[bytes]]
UNKNOWN_PERSON = (
    "你好！你还不在 OrderBot 的员工名录里，暂时只能看帮助。请联系管理员在业务配置的 [[staff]] 中加上你的"
    "企业微信/钉钉账号。"
)


@dataclass(frozen=True)
class Proposal:
    """A confirmation or a choice to record in the transaction, and the reply that shows its buttons."""

    token: str
    kind: str  # confirm | choose
    readings: list[dict[str, Any]]
    summary: str
    reply: Reply
    lang: str = "zh"


@dataclass
class Prepared:
    reply: Reply | None = None  # final answer (read intents, refusals, questions)
    route: Route | None = None  # a write or action still to run in the transaction
    args: Any = None
    asker: Asker | None = None
    asker_later: bool = False  # look the asker up inside the unit of work (scans)
    propose: Proposal | None = None  # record this pending confirmation, answer with its reply
    claim: str | None = None  # decide this pending confirmation first; nothing else happens unless it is ours
    cancel: bool = False
    choice: int | None = None
    lang: str = "zh"  # the language of the confirmation being decided
    intent: str | None = None  # what a typed message was read as (an intent name, "unknown", "confirm")


# Routes whose handler checks everything before its first write, so a refusal (DomainError) never leaves half a
# change: they run without the savepoint (SAVEPOINT, RELEASE and the session's bookkeeping for them cost a good
# share of a whole scan). A DomainError that still escapes one fails the event as a whole (the unit of work rolls
# back) instead of committing what it wrote.
_NO_SAVEPOINT = frozenset({"scan"})


_DUTY = re.compile(r"^(?:今天|今日)?值班(?:组长)?(?:改为|改成|换成|换为|是)\s*(\S+)$")
_WAYBILL = re.compile(r"(?:申请|生成|打印|出)面单\s*(SO\d{12,})", re.IGNORECASE)


_ALERT_LIST = frozenset({"告警列表", "告警", "查看告警", "当前告警", "alerts", "alert list"})
_HELD_LIST = re.compile(r"^(?:查看|看看|列出)?(\S*?)(?:的)?待审核(?:的)?订单$")


def _command(text: str) -> tuple[str, str] | None:
    t = text.strip()
    if m := _DUTY.match(t):
        return "duty.set", m.group(1)
    if m := _WAYBILL.search(t):
        return "waybill.check", m.group(1).upper()
    if t.lower() in _ALERT_LIST:
        return "alert.list", ""
    if m := _HELD_LIST.match(t):
        channel = CHANNEL_ALIASES.get(m.group(1).lower().removesuffix("渠道")) if m.group(1) else None
        if not m.group(1) or channel:
            return "review.list", channel or ""
    return None


@dataclass(frozen=True)
class _Heavy:
    """A heavy read route, allowed and understood: its handler runs once the light session is closed."""

    route: Route
    arg: Any
    asker: Asker
    claim: str | None = None  # a picked reading: the choice is decided in the transaction
    choice: int | None = None
    intent: str | None = None


async def _dispatch(
    route: Route, arg, ctx: Context, *, question: Reply | None = None, typed: bool = False
) -> Prepared | _Heavy:
    """Permission first, before asking anything back; then a question, a write for the transaction (from typed
    text: its confirmation), or the read-only answer itself (a heavy one is handed back to run in its own
    session)."""
    if not allowed(route, ctx.asker.roles):
        return Prepared(Reply(text=route.refusal))
    if question is not None:
        return Prepared(question)
    if route.write and typed:
        return await _propose(route, arg, ctx)
    if route.write:
        return Prepared(route=route, args=arg, asker=ctx.asker)
    if route.heavy:
        return _Heavy(route, arg, ctx.asker)
    return await _answer(route, arg, ctx)


def _read_as(prepared: Prepared | _Heavy, intent: str) -> Prepared | _Heavy:
    """The outcome with what the message was read as (the WeCom AI bot keeps it beside the answer's rating)."""
    if isinstance(prepared, _Heavy):
        return replace(prepared, intent=intent)
    prepared.intent = intent
    return prepared


async def _answer(route: Route, arg, ctx: Context) -> Prepared:
    try:
        reply = await route.handler(arg, ctx)
    except DomainError as exc:
        return Prepared(Reply(text=exc.message))
    if reply is not None and reply.meta.get("choices"):  # the handler asks back (which customer?)
        return _choose(
            [
                (ROUTES[d["name"]], confirm.load(d)[1], confirm.label(d))
                for d in reply.meta["choices"]
                if d["name"] in ROUTES
            ],
            ctx,
            reply.meta.get("question"),
        ) or Prepared(reply)
    return Prepared(reply)


def _choose(options: list, ctx: Context, question: str | None = None) -> Prepared | None:
    """Readings offered as buttons, recorded in the transaction as one pending choice."""
    if not options:
        return None
    token = confirmations.new_token()
    reply = confirm.choice_reply(token, options, ctx.lang, question)
    readings = [
        {**confirm.dump(route.name, arg), **({"label": label} if label else {})} for route, arg, label in options
    ]
    return Prepared(propose=Proposal(token, "choose", readings, reply.text, reply, ctx.lang), asker=ctx.asker)


async def _propose(route: Route, arg, ctx: Context) -> Prepared:
    """Say exactly what the write will do and wait for 确认; a preview that finds nothing to do refuses now."""
    try:
        summary = await confirm.preview(route, arg, ctx)
    except DomainError as exc:
        return Prepared(Reply(text=exc.message))
    token = confirmations.new_token()
    return Prepared(
        propose=Proposal(
            token,
            "confirm",
            [confirm.dump(route.name, arg)],
            summary,
            confirm.confirm_reply(token, route, summary, ctx.lang),
            ctx.lang,
        ),
        asker=ctx.asker,
    )


_LATIN = re.compile(r"[A-Za-z]{2,}")
_CJK = re.compile(r"[\u3400-\u9fff]")


def language(text: str) -> str:
    """'en' for a message in English (Latin words, no Chinese characters), else 'zh'."""
    return "en" if _LATIN.search(text) and not _CJK.search(text) else "zh"


class Dispatcher:
    def __init__(
        self,
        db: Database,
        parser: IntentParser | None,
        config: BusinessConfig,
        clock: Callable[[], datetime],
        charts: Charts | None = None,
        *,
        addresses: Addresses | None = None,
        label_secret: str | None = None,
    ):
        """`parser` may be set later (the app builds it at start-up from the master data)."""
        self.db, self.parser, self.config, self.clock, self.charts = db, parser, config, clock, charts
        self.addresses = addresses or Addresses(set())
        self.label_secret = label_secret
        self.strangers = StrangerLimit()

    def _context(self, asker, session, now) -> Context:
        return Context(asker, session, now, self.config, self.charts, self.parser, self.addresses, self.label_secret)

    async def asker(self, session: AsyncSession, event: InboundEvent) -> Asker | None:
        o = event.origin
        who = await identify(session, o.platform, o.user_id)
        if who is None:
            return None
        return Asker(who.staff_id, who.name, who.roles, o.chat_id)

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
                answered = await _answer(outcome.route, outcome.arg, self._context(outcome.asker, session, now))
            if outcome.claim is not None:
                answered.claim, answered.choice, answered.asker = outcome.claim, outcome.choice, outcome.asker
            answered.intent = outcome.intent
            return answered
        return outcome

    async def _prepare(self, event: InboundEvent, session: AsyncSession, now: datetime) -> Prepared | _Heavy:
        asker = await self.asker(session, event)
        if asker is None:
            if isinstance(event, EnterAgent) or not self.strangers.allow(
                (event.origin.platform, event.origin.user_id), now
            ):
                return Prepared(None)  # a stranger's flood gets silence, not a reply per message
            return Prepared(Reply(text=UNKNOWN_PERSON))
        ctx = self._context(asker, session, now)
        if isinstance(event, ChatMessage):
            return await self._message(event, ctx)
        if isinstance(event, CardAction):
            action, _, arg = event.key.partition(":")
            if action in (confirm.CONFIRM, confirm.CANCEL, confirm.PICK):
                token, _, number = arg.partition(":")
                choice = int(number) if number.isdigit() else None
                return await self._decide(action, token, choice, ctx)
            route = ROUTES.get(f"action.{action}")
            if route is None:
                return Prepared(Reply(text="这个按钮已失效或不认识，请重新发起操作。"))
            return await _dispatch(route, arg, ctx)
        if isinstance(event, EnterAgent):
            return Prepared(None)
        return Prepared(None)

    async def _message(self, event: ChatMessage, ctx: Context) -> Prepared | _Heavy:
        ctx.lang = language(event.text)
        answered = await self._typed_answer(event.text, ctx)
        if answered is not None:
            return _read_as(answered, "confirm")
        command = _command(event.text)
        if command is not None:  # a few operational commands outside INTENTS.md
            name, arg = command
            return _read_as(await _dispatch(ROUTES[name], arg, ctx, typed=True), name)
        intent = self.parser.parse(event.text, ctx.now)
        if intent.name == "unknown" or intent.name not in ROUTES:
            mine = {
                name for name, r in ROUTES.items() if not name.startswith("action.") and allowed(r, ctx.asker.roles)
            }
            suggestions = [n for n in self.parser.closest_intents(event.text, allowed=mine, k=3)]
            return Prepared(
                help_reply(ctx.asker.roles, suggestions, not_understood=True, lang=ctx.lang), intent="unknown"
            )
        route = ROUTES[intent.name]
        if intent.needs_clarification and not intent.missing:
            offered = self._ask_back(event.text, intent, ctx)
            if offered is not None:
                return _read_as(offered, intent.name)
        return _read_as(
            await _dispatch(
                route, intent, ctx, typed=True, question=route.clarify(intent) if intent.needs_clarification else None
            ),
            intent.name,
        )

    def _candidates(self, text: str, now: datetime, first) -> list:
        """The parser's closest readings, best first (the single parse where the parser offers no more)."""
        candidates = getattr(self.parser, "candidates", None)
        return list(candidates(text, now, k=2)) if candidates is not None else [first]

    def _ask_back(self, text: str, intent, ctx: Context) -> Prepared | None:
        """The closest complete readings this person may use, as buttons; None when there is none to offer."""
        options, seen = [], set()
        for reading in self._candidates(text, ctx.now, intent):
            route = ROUTES.get(reading.name)
            if route is None or reading.missing or not allowed(route, ctx.asker.roles):
                continue
            key = (reading.name, tuple(reading.slots.items()))
            if key not in seen:
                seen.add(key)
                options.append((route, reading, None))
        return _choose(options, ctx)

    async def _typed_answer(self, text: str, ctx: Context) -> Prepared | _Heavy | None:
        """ "1" / "确认" / "0" / "取消" from someone whose confirmation or choice waits in this conversation."""
        answer = confirm.typed_answer(text)
        if answer is None:
            return None
        row = await confirmations.latest(ctx.session, ctx.asker.staff_id, ctx.asker.chat_id, ctx.now)
        if row is None or (row.state != "pending" and not isinstance(answer, int)):
            return None  # a "好" after the matter is closed is just a word; a repeated "1" hears it was done
        if answer == "no" or answer == 0:
            return await self._decide(confirm.CANCEL, row.token, None, ctx, row)
        if row.kind == "confirm" and answer in ("yes", 1):
            return await self._decide(confirm.CONFIRM, row.token, None, ctx, row)
        if row.kind == "choose" and isinstance(answer, int):
            return await self._decide(confirm.PICK, row.token, answer, ctx, row)
        if row.kind == "choose" and answer == "yes" and len(row.payload.get("readings", ())) == 1:
            return await self._decide(confirm.PICK, row.token, 1, ctx, row)
        return None

    async def _decide(self, action: str, token: str, choice: int | None, ctx: Context, row=None) -> Prepared | _Heavy:
        """A 确认 / 取消 / pick: checked here (whose, still valid), decided once in the transaction."""
        row = row or await confirmations.find(ctx.session, token)
        if row is not None:
            ctx.lang = row.payload.get("lang", "zh")
        why = confirmations.why_not(row, ctx.asker.staff_id, ctx.now)
        if why is not None:
            return Prepared(Reply(text=confirm.outcome(why, ctx.lang)))
        if action == confirm.CANCEL:
            return Prepared(claim=row.token, cancel=True, asker=ctx.asker, lang=ctx.lang)
        readings = row.payload.get("readings", [])
        n = 1 if row.kind == "confirm" else choice
        if n is None or not 1 <= n <= len(readings):
            return Prepared(Reply(text=f"请点按钮，或回复 1 到 {len(readings)} 之间的数字。"))
        name, arg = confirm.load(readings[n - 1])
        route = ROUTES.get(name)
        if route is None:
            return Prepared(Reply(text=confirm.outcome("missing", ctx.lang)))
        if not allowed(route, ctx.asker.roles):
            return Prepared(Reply(text=route.refusal))
        if row.kind == "confirm":
            return Prepared(route=route, args=arg, asker=ctx.asker, claim=row.token, lang=ctx.lang)
        if route.write:  # a picked write still waits for its own 确认
            proposed = await _propose(route, arg, ctx)
        elif route.heavy:
            return _Heavy(route, arg, ctx.asker, claim=row.token, choice=n)
        else:
            proposed = await _answer(route, arg, ctx)
        proposed.claim, proposed.choice, proposed.asker, proposed.lang = row.token, n, ctx.asker, ctx.lang
        return proposed

    async def __call__(
        self, event: InboundEvent, session: AsyncSession, prepared: Prepared | None = None
    ) -> Reply | None:
        if prepared is None:
            prepared = await self.prepare(event)
        if prepared.claim is not None:
            decision = await confirmations.decide(
                session,
                prepared.claim,
                staff_id=prepared.asker.staff_id,
                cancel=prepared.cancel,
                choice=prepared.choice,
                now=self.clock(),
            )
            if not decision.ok:
                return Reply(text=confirm.outcome(decision.outcome, prepared.lang))
            if prepared.cancel:
                return Reply(text=confirm.cancelled(prepared.lang))
        if prepared.propose is not None:
            p = prepared.propose
            await confirmations.propose(
                session,
                token=p.token,
                kind=p.kind,
                staff_id=prepared.asker.staff_id,
                chat=prepared.asker.chat_id,
                readings=p.readings,
                summary=p.summary,
                now=self.clock(),
                lang=p.lang,
            )
            return p.reply
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
        audit.record(
            session,
            at=ctx.now,
            actor=ctx.asker.staff_id,
            action=prepared.route.name,
            subject=str(reply.meta.get("subject", "")),
            detail=reply.meta.get("audit"),
            chat=event.origin.chat_id,
        )
        return reply
