"""Running the alert rules and announcing what they find: cards with buttons, digests per chat, reminders.

`RulesRunner.evaluate` evaluates rules (each in its own unit of work, so one rule's failure never blocks the
others), then writes every notice of that evaluation to the outbox in one transaction: one card or one digest
per chat, so a chat never gets two 全部知道了 from one evaluation. `hook(topic)` is what
the webhooks call after a change: it schedules an evaluation of the rules that watch that kind of event and
returns at once; calls that arrive while one runs are folded into one more run.

Where notices go: every group whose `receives` lists the rule; rule-specific people (an order's sales owner for
eta_risk, sales directors for repeat_orders); and when no group receives a rule, its owners (roles or staff ids)
directly. Several notices for one chat in one evaluation become one digest card.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core import outbox
from orderbot.core.rules import alerts
from orderbot.core.staff import active_roles
from orderbot.core.rules.builtins import RULES, RuleDef
from orderbot.core.rules.engine import ACTION_NAMES, Notice, Outcome, evaluate_rule, rule_config
from orderbot.db.engine import Database
from orderbot.messaging.addresses import Addresses
from orderbot.messaging.notify import group_address, notify_groups, shows_buttons
from orderbot.core.keys import fit_key
from orderbot.messaging.reply import Button, Card, Chart, Reply

log = logging.getLogger("orderbot.rules")
DIGEST_LINES = 10
MAX_BUTTONS = 6  # WeCom template cards take up to six buttons


class _DryRun(Exception):
    pass


def buttons_for(n: Notice) -> tuple[Button, ...]:
    """The buttons on one alert's card: the rule's own work buttons, then the veto, then acknowledge."""
    out: list[Button] = []
    if n.rule == "customs_stuck":
        out += [
            Button("认领", f"customs_claim:{n.alert_id}", 1),
            Button("资料已发", f"customs_docs_sent:{n.alert_id}", 2),
            Button("放行", f"customs_release:{n.alert_id}", 1),
        ]
    elif n.rule == "customs_docs":
        out.append(Button("资料已补齐", f"docs_done:{n.alert_id}", 1))
    if n.action_state == "done" and n.action and not n.action.get("already") and not n.action.get("missing"):
        out.append(Button("撤销", f"alert_undo:{n.alert_id}", 4))
    elif n.action_state == "suggested" and n.action:
        out.append(Button(f"执行：{ACTION_NAMES[n.action['kind']]}", f"alert_apply:{n.alert_id}", 1))
    out.append(Button("知道了", f"alert_ack:{n.alert_id}", 2))
    return tuple(out[:MAX_BUTTONS])


def _action_line(n: Notice, buttons: bool = True) -> str | None:
    """The automatic action in words; the hint to press a button only when the card carries it (`buttons`)."""
    if not n.action:
        return None
    name = ACTION_NAMES.get(n.action["kind"], n.action["kind"])
    if n.action_state == "done":
        if n.action.get("already"):
            return f"自动动作：{name}（此前已处于该状态，未重复操作）"
        return f"已自动执行：{name}" + ("（可点「撤销」否决）" if buttons else "")
    if n.action_state == "suggested":
        return f"建议动作：{name}" + ("（点击按钮后才会执行）" if buttons else "（未执行）")
    return None


def card_reply(n: Notice) -> Reply:
    prefix = "提醒" if n.kind == "repeat" else "告警"
    lines = [line for line in (_action_line(n),) if line]
    card = Card(
        f"【{n.label}{prefix}】{n.title}",
        "\n".join(lines),
        fields=n.facts,
        buttons=buttons_for(n),
        task_id=f"alert-{n.alert_id}-{n.kind}-{abs(hash(n.title)) % 10**8}",
    )
    text_lines = [f"【{n.label}{prefix}】{n.title}", *lines, *(f"{k}：{v}" for k, v in n.facts)]
    return Reply(title=f"{n.label}{prefix}", text="\n".join(text_lines), card=card)


def resolved_reply(n: Notice) -> Reply:
    return Reply(title=f"{n.label}已恢复", text=f"✅ 已恢复：{n.title}\n{n.note or ''}".rstrip())


def digest_reply(notices: list[Notice], now: datetime) -> Reply:
    firing = [n for n in notices if n.kind != "resolved"]
    done = [n for n in notices if n.kind == "resolved"]
    labels = "、".join(dict.fromkeys(n.label for n in notices))
    counts = ([f"{len(firing)} 条告警"] if firing else []) + ([f"{len(done)} 条已恢复"] if done else [])
    title = ("告警汇总：" if firing else "告警恢复：") + "，".join(counts) + f"（{labels}）"  # never "0 条"
    buttons: list[Button] = []
    for n in firing[: MAX_BUTTONS - 1]:  # the most useful button of the first alerts (by their #id), then one for all
        first = buttons_for(n)[0]
        buttons.append(Button(f"{first.text} #{n.alert_id}", first.key, first.style))
    lines = []
    for i, n in enumerate(firing[:DIGEST_LINES]):
        tail = _action_line(n, buttons=i < MAX_BUTTONS - 1)  # a line says "click" only when its button is there
        lines.append(f"· #{n.alert_id} {n.title}" + (f"｜{tail}" if tail else ""))
    without = [f"#{n.alert_id}" for n in firing[MAX_BUTTONS - 1 : DIGEST_LINES]]
    if without:
        names = "、".join(without)
        lines.append(f"卡片最多放 {MAX_BUTTONS} 个按钮：{names} 没有自己的按钮，「全部知道了」对它们同样有效")
    if len(firing) > DIGEST_LINES:
        lines.append(f"……另有 {len(firing) - DIGEST_LINES} 条：发送「告警列表」查看")
    lines += [f"✅ {n.title}（{n.note}）" for n in done[:DIGEST_LINES]]
    if firing:  # by rule and time, not a list of ids: a digest may carry thousands; "*" when it mixes rules
        rules = {n.rule for n in firing}
        which = firing[0].rule if len(rules) == 1 else "*"
        buttons.append(Button("全部知道了", f"alert_ack_all:{which}:{int(now.timestamp())}", 2))
    card = Card(
        title,
        "\n".join(lines),
        buttons=tuple(buttons),
        task_id=f"digest-{firing[0].alert_id if firing else done[0].alert_id}-{len(notices)}",
    )
    return Reply(title=title, text="\n".join([title, *lines]), card=card)


class RulesRunner:
    def __init__(
        self,
        db: Database,
        config: BusinessConfig,
        clock: Callable[[], datetime],
        *,
        addresses: Addresses | None = None,
        charts=None,
        on_commit: Callable[[], None] | None = None,
    ):
        self.db, self.config, self.clock = db, config, clock
        self.addresses = addresses or Addresses(set())
        self.charts = charts  # async (fn, *args) -> png, for the cancellation word cloud
        self.on_commit = on_commit
        self._pending: set[str] = set()
        self._task: asyncio.Task | None = None

    # --- evaluation ------------------------------------------------------------------------------------------
    async def evaluate(
        self,
        *,
        now: datetime | None = None,
        only: set[str] | None = None,
        trigger: str = "schedule",
        dry_run: bool = False,
    ) -> list[Outcome]:
        now = now or self.clock()
        outcomes = []
        for name, rule in RULES.items():
            if only is not None and name not in only:
                continue
            try:
                outcomes.append(await self._one(rule, now, trigger, dry_run))
            except Exception:
                log.exception("rule %s failed to evaluate", name)
                outcomes.append(Outcome(name, None, 0, "error", [], [], [], 0.0))
        notices = [n for o in outcomes if not o.outcome.startswith("dry_run") for n in o.notices]
        if notices:
            # One announcement for the whole evaluation, so a chat gets one digest (one 全部知道了) however many
            # rules fired. Should the process die between a rule's commit and this one, the firing alerts are
            # announced again by their reminders (`repeat_minutes`) and are listed by 告警列表 meanwhile.
            try:
                async with self.db.write() as session:
                    await self._announce(session, notices, now)
            except Exception:
                log.exception("announcing %d alert notices failed", len(notices))
        for o in outcomes:
            if o.rule == "cancel_rate" and self.charts is not None and not o.outcome.startswith("dry_run"):
                for n in o.notices:
                    if n.kind == "firing":
                        await self._word_cloud(n, now)
        if not dry_run and self.on_commit is not None and notices:
            self.on_commit()
        return outcomes

    async def _one(self, rule: RuleDef, now: datetime, trigger: str, dry_run: bool) -> Outcome:
        result: Outcome | None = None
        try:
            # heavy: the aggregates run off the event loop (SQLite's threaded engine), still as the one writer
            async with self.db.write(heavy=True) as session:
                if self.db.dialect == "postgresql":  # one evaluator per rule at a time across servers
                    await alerts.lock_rule(session, rule.name)
                result = await evaluate_rule(session, rule, self.config, now, trigger=trigger)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            assert result is not None
            result.outcome = f"dry_run:{result.outcome}"
            return result
        assert result is not None
        return result

    # --- where notices go -------------------------------------------------------------------------------------
    async def _announce(self, session: AsyncSession, notices: list[Notice], now: datetime) -> None:
        if not notices:
            return
        staff = await active_roles(session)  # once per announcement, not per notice
        addresses: dict[str, tuple[str, str]] = {}
        per_dest: dict[tuple[str, str], list[Notice]] = {}
        for n in notices:
            for dest in await self._destinations(session, n, staff, addresses):
                per_dest.setdefault(dest, []).append(n)
        for (channel, destination), items in per_dest.items():
            if len(items) == 1:
                n = items[0]
                reply = resolved_reply(n) if n.kind == "resolved" else card_reply(n)
                key = f"alert:{n.alert_id}:{n.kind}:{now.isoformat()}:{destination}"
            else:
                reply = digest_reply(items, now)
                key = f"alerts:{now.isoformat()}:{destination}"
            await outbox.enqueue(
                session,
                channel=channel,
                destination=destination,
                kind="reply",
                payload=reply.to_dict(),
                now=now,
                dedupe_key=fit_key(key),
            )

    async def _destinations(self, session: AsyncSession, n: Notice, staff, addresses: dict) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        buttonless = False  # a group got it without its buttons: the owners get the card 1:1 as well
        for key, group in self.config.groups.items():
            if n.rule in group.receives and (address := group_address(key, group)) is not None:
                out.append(address)
                buttonless = buttonless or (not shows_buttons(group) and n.kind != "resolved")
        people: list[str] = []
        if n.rule == "eta_risk" and n.data.get("owner"):
            people.append(n.data["owner"])
        if n.rule == "repeat_orders" and n.kind == "firing":
            people += _with(staff, ["sales_director"])
        owners = _with(staff, rule_config(self.config, n.rule).owners)
        if not out:
            people += owners
        copies = [o for o in owners if o not in people] if out and buttonless else []
        for staff_id in dict.fromkeys(people + copies):
            if staff_id not in addresses:
                addresses[staff_id] = await self.addresses.staff(session, staff_id)
            if staff_id in copies and addresses[staff_id][0] == outbox.UNREACHABLE:
                continue  # the group has the alert; a copy of its card nobody can be sent is not queued
            out.append(addresses[staff_id])
        return list(dict.fromkeys(out))

    async def _word_cloud(self, n: Notice, now: datetime) -> None:
        """Cancellation reasons of the frozen channel today, as a word cloud for the product group."""
        from orderbot.bot.charts import word_cloud
        from orderbot.core.rules.builtins import _local_day
        from zoneinfo import ZoneInfo

        start, end = _local_day(now, ZoneInfo(self.config.timezone))
        try:
            async with self.db.read() as session:
                weights = await alerts.cancel_reasons(session, n.subject, start, end)
            if not weights:
                return
            png = await self.charts(word_cloud, f"{n.subject} 今日取消原因", weights)
            reply = Reply(
                title="取消原因词云",
                text=f"{n.title}\n取消原因："
                + "、".join(f"{r}{c}单" for r, c in sorted(weights.items(), key=lambda x: -x[1])[:8]),
                charts=(Chart(f"{n.subject} 今日取消原因", png),),
            )
            async with self.db.write() as session:
                await notify_groups(
                    session, self.config, "cancel_wordcloud", reply, now=now, dedupe_key=f"wordcloud:{n.alert_id}"
                )
            if self.on_commit is not None:
                self.on_commit()
        except Exception:  # the alert and its freeze stand; only the picture is missing
            log.exception("cancellation word cloud for alert #%s failed", n.alert_id)

    # --- event hook -------------------------------------------------------------------------------------------
    async def hook(self, topic: str) -> None:
        """Schedule an evaluation of the rules watching `topic`; returns at once."""
        names = {name for name, r in RULES.items() if topic in r.topics}
        if not names:
            return
        self._pending |= names
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending:
            names, self._pending = self._pending, set()
            try:
                await self.evaluate(only=names, trigger="event")
            except Exception:
                log.exception("event-triggered rule evaluation failed")

    async def idle(self) -> None:
        """Wait for event-triggered evaluations to finish (tests and shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)


def _with(staff, owners: list[str]) -> list[str]:
    """Active staff named in `owners` by id or by one of their roles."""
    return [sid for sid, roles in staff if sid in owners or set(roles or ()) & set(owners)]


def outcome_lines(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """`orderbot rules` output: one JSON-able line per alert that fires (or would) and per rule summary."""
    lines: list[dict[str, Any]] = []
    for o in outcomes:
        for n in o.notices:
            line = {
                "rule": o.rule,
                "event": n.kind,
                "alert_id": n.alert_id,
                "subject": n.subject,
                "title": n.title,
                "action": n.action,
                "action_state": n.action_state,
            }
            if o.outcome.startswith("dry_run"):  # rolled back: the ids and actions did not happen
                line = {"dry_run": True, **{k: v for k, v in line.items() if k != "alert_id"}}
            lines.append(line)
        for subject in o.fired:
            if not any(n.subject == subject and n.kind == "firing" for n in o.notices):
                lines.append({"rule": o.rule, "event": "firing", "subject": subject, "silenced": True})
    return lines
