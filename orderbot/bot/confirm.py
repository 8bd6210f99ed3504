"""The words and buttons of a confirmation and of asking back, and the readings they carry.

A write read from typed or transcribed text is never run straight away: the asker sees what will happen and
presses 确认 / 取消 (or replies 1 / 0 where a platform shows no buttons). Below the clarification threshold the
bot offers the closest readings as buttons instead of a free-text question. Both wait in
`core.confirmations`; what they wait with is a list of *readings*: an intent's name and slots (or a command's
argument), stored as JSON and turned back into a value the handler reads like the parsed `Intent`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from orderbot.messaging.reply import Button, Card, Reply

CONFIRM, CANCEL, PICK = "confirm", "cancel", "pick"


@dataclass(frozen=True)
class Reading:
    """A stored reading handed to a handler in place of the parsed `Intent` (same `name` and `slots`)."""

    name: str
    slots: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = 1.0
    missing: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    needs_clarification = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", MappingProxyType(dict(self.slots)))


def dump(route_name: str, arg: Any) -> dict[str, Any]:
    """A handler's argument as JSON: an intent's slots, or a command's text argument."""
    if isinstance(arg, str):
        return {"name": route_name, "arg": arg}
    return {"name": route_name, "slots": dict(arg.slots)}


def label(data: Mapping[str, Any]) -> str | None:
    return data.get("label")


def load(data: Mapping[str, Any]) -> tuple[str, Any]:
    if "arg" in data:
        return data["name"], data["arg"]
    return data["name"], Reading(data["name"], data.get("slots", {}))


SLOT_LABELS = {
    "order_ref": "订单",
    "eta": "新交付日期",
    "channel": "渠道",
    "sku": "SKU",
    "qty": "数量",
    "batch": "批次",
    "rule": "告警",
    "minutes": "分钟",
    "scope": "范围",
    "customer": "客户",
    "staff": "员工",
    "metric": "指标",
    "filter": "类别",
    "region": "地区",
    "province": "省份",
    "date": "日期",
    "date_from": "从",
    "date_to": "到",
    "limit": "前",
    "extra_orders": "新增订单",
    "hours": "小时",
}


def _value(slot: str, value: Any) -> str:
    from orderbot.core.channels import channel_name
    from orderbot.core.rules.silences import RULES

    if slot == "channel":
        return channel_name(value)
    if slot == "rule":
        return RULES.get(value, value)
    if slot == "metric":
        from orderbot.core.reports.figures import FIGURE_NAMES

        return FIGURE_NAMES.get(value, value)
    if slot == "filter":
        from orderbot.core.orders.lists import FILTER_NAMES

        return FILTER_NAMES.get(value, value)
    if slot == "staff" and value in ("me", "team"):
        return "我" if value == "me" else "仓库全员"
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        try:
            d = date.fromisoformat(value)
        except ValueError:
            return value
        return f"{d.month}月{d.day}日"
    return str(value)


def describe(route, arg: Any) -> str:
    """What a route will do with these slots, in a line (the generic preview and the ask-back options)."""
    if isinstance(arg, str):
        return f"{route.title}：{arg}" if arg else route.title
    parts = [f"{SLOT_LABELS.get(k, k)} {_value(k, v)}" for k, v in arg.slots.items() if v not in (None, "")]
    return f"{route.title}（{'，'.join(parts)}）" if parts else route.title


async def preview(route, arg: Any, ctx) -> str:
    """The route's own description of its effect, or the generic one. May raise a DomainError."""
    if route.preview is not None:
        said = await route.preview(arg, ctx)
        return said if isinstance(said, str) else (said.text or said.title)
    return f"将要{describe(route, arg)}。"


def confirm_reply(token: str, route, summary: str, lang: str = "zh") -> Reply:
    if lang == "en":
        hint = "Press Confirm within 10 minutes (only you can), or reply 1 to confirm, 0 to cancel."
        buttons = (Button("Confirm", f"{CONFIRM}:{token}", 1), Button("Cancel", f"{CANCEL}:{token}", 2))
        return Reply(
            title="Please confirm",
            text=f"{summary}\n\n{hint}",
            card=Card(f"Please confirm: {route.title}", summary[:44], buttons=buttons, task_id=f"confirm-{token}"),
        )
    hint = "10 分钟内有效，只有你本人可以确认。点「确认」执行，或回复 1 确认、回复 0 取消。"
    buttons = (Button("确认", f"{CONFIRM}:{token}", 1), Button("取消", f"{CANCEL}:{token}", 2))
    return Reply(
        title="请确认",
        text=f"{summary}\n\n{hint}",
        card=Card(f"请确认：{route.title}", summary[:44], buttons=buttons, task_id=f"confirm-{token}"),
    )


def choice_reply(
    token: str, options: list[tuple[Any, Any, str | None]], lang: str = "zh", question: str | None = None
) -> Reply:
    """The readings as numbered buttons (`label`, or a description of the reading); a reply with the number
    picks the same one."""
    labels = [label or describe(route, arg) for route, arg, label in options]
    lines = [f"{i}. {label}" for i, label in enumerate(labels, 1)]
    numbers = " / ".join(str(i) for i in range(1, len(options) + 1))
    buttons = tuple(
        Button(f"{i}. {label or route.title}"[:10], f"{PICK}:{token}:{i}", 1 if i == 1 else 2)
        for i, (route, _arg, label) in enumerate(options, 1)
    )
    if lang == "en":
        head = question or "Did you mean:"
        text = f"{head}\n" + "\n".join(lines) + f"\n\nPress one, or reply {numbers}. If none fits, say it another way."
        return Reply(title="Which one?", text=text, card=Card("Which one?", buttons=buttons, task_id=f"choose-{token}"))
    head = question or "你是想："
    text = f"{head}\n" + "\n".join(lines) + f"\n\n点一个按钮，或回复 {numbers}。都不是的话，换个说法再说一次。"
    return Reply(title="你是想……", text=text, card=Card("你是想……", buttons=buttons, task_id=f"choose-{token}"))


def choices(readings: list[dict[str, Any]], question: str) -> dict[str, Any]:
    """What a read handler puts in `Reply.meta` to ask back with buttons (e.g. which of several customers):
    readings as `{"name", "slots", "label"}`; the dispatcher records them and shows the buttons."""
    return {"choices": readings, "question": question}


# Why a click or a typed answer did nothing; each says what happened and what to do.
OUTCOMES = {
    "missing": "这个确认已失效或不存在，没有执行任何操作。需要的话请重新发一遍。",
    "not_yours": "只有发起这个操作的本人可以确认或取消，你的点击没有执行任何操作。",
    "expired": "这个确认已过期（10 分钟内有效），没有执行。需要的话请重新发一遍。",
    "done": "这个请求已处理过，不会重复执行。",
    "cancelled": "这个请求已取消，没有执行。需要的话请重新发一遍。",
}
CANCELLED = "已取消，没有执行任何操作。"
OUTCOMES_EN = {
    "missing": "This confirmation is no longer valid; nothing was done. Please send the request again.",
    "not_yours": "Only the person who asked can confirm or cancel this; nothing was done.",
    "expired": "This confirmation has expired (valid for 10 minutes); nothing was done. Please send it again.",
    "done": "This request was already handled; it will not run twice.",
    "cancelled": "This request was cancelled; nothing was done.",
}
CANCELLED_EN = "Cancelled; nothing was done."


def outcome(why: str, lang: str = "zh") -> str:
    """Why a click or a typed answer did nothing, in the asker's language."""
    return (OUTCOMES_EN if lang == "en" else OUTCOMES)[why]


def cancelled(lang: str = "zh") -> str:
    return CANCELLED_EN if lang == "en" else CANCELLED


_YES = frozenset({"确认", "确定", "是", "是的", "好", "好的", "对", "yes", "y", "ok", "confirm"})
_NO = frozenset({"取消", "不", "不要", "否", "算了", "no", "n", "cancel"})


def typed_answer(text: str) -> str | int | None:
    """A short reply that may answer a waiting confirmation: 'yes', 'no', or a number (1 also means yes)."""
    t = text.strip().rstrip("。.!！ ").lower()
    if t.isdigit() and len(t) == 1:
        return int(t)
    if t in _YES:
        return "yes"
    if t in _NO:
        return "no"
    return None
