"""The order state machine: statuses, the 11-node fulfilment chain, and the legal moves between them.

Status is the commercial state (paid, shipped, …); stage is where the order physically is on the chain the seed
names (支付网关 → … → 签收回传). A stage only moves forward (it may skip nodes that do not apply, such as the
purchase plan for stock on hand); every status has a range of stages it may sit in.
"""

from __future__ import annotations

from dataclasses import dataclass

from orderbot.core.errors import IllegalTransition

# (code, Chinese name, normal hours an order spends at the node before it counts as stuck)
STAGES: tuple[tuple[str, str, int], ...] = (
    ("payment", "支付网关", 2),
    ("crm_tag", "CRM标签", 4),
    ("inventory", "库存池", 12),
    ("purchase", "采购计划", 72),
    ("qc", "质检工单", 24),
    ("packing", "打包台", 24),
    ("routing", "物流路由", 24),
    ("customs", "海关申报", 48),
    ("overseas_wh", "海外仓上架", 72),
    ("last_mile", "本地配送", 96),
    ("delivered", "签收回传", 0),
)
STAGE_CODES = tuple(s[0] for s in STAGES)
STAGE_NAMES = {s[0]: s[1] for s in STAGES}
STAGE_NORMAL_HOURS = {s[0]: s[2] for s in STAGES}
STAGE_INDEX = {code: i for i, code in enumerate(STAGE_CODES)}

STATUS_NAMES = {
    "pending": "待付款",
    "paid": "已付款",
    "shipped": "已发货",
    "delivered": "已签收",
    "cancelled": "已取消",
    "return_requested": "退货中",
    "returned": "已退货入库",
}
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"paid", "cancelled"}),
    "paid": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered", "return_requested"}),
    "delivered": frozenset({"return_requested"}),
    "return_requested": frozenset({"returned"}),
    "cancelled": frozenset(),
    "returned": frozenset(),
}
# The stages each status may sit in (inclusive index range on the chain).
STATUS_STAGES: dict[str, tuple[str, str]] = {
    "pending": ("payment", "payment"),
    "paid": ("payment", "packing"),
    "shipped": ("routing", "last_mile"),
    "delivered": ("delivered", "delivered"),
    "cancelled": ("payment", "delivered"),
    "return_requested": ("routing", "delivered"),
    "returned": ("routing", "delivered"),
}
OPEN_STATUSES = frozenset({"pending", "paid"})


@dataclass(frozen=True)
class Position:
    status: str
    stage: str


def check_status(current: str, new: str) -> None:
    if new not in STATUS_NAMES:
        raise IllegalTransition(f"未知的订单状态：{new}")
    if new != current and new not in STATUS_TRANSITIONS[current]:
        raise IllegalTransition(
            f"订单不能从「{STATUS_NAMES[current]}」变为「{STATUS_NAMES[new]}」", current=current, new=new
        )


def check_stage(current: str, new: str) -> None:
    if new not in STAGE_INDEX:
        raise IllegalTransition(f"未知的履约环节：{new}")
    if STAGE_INDEX[new] < STAGE_INDEX[current]:
        raise IllegalTransition(
            f"履约环节不能倒退：当前在「{STAGE_NAMES[current]}」，不能回到「{STAGE_NAMES[new]}」",
            current=current,
            new=new,
        )


def stage_allowed(status: str, stage: str) -> bool:
    lo, hi = STATUS_STAGES[status]
    return STAGE_INDEX[lo] <= STAGE_INDEX[stage] <= STAGE_INDEX[hi]


def next_position(current: Position, status: str | None = None, stage: str | None = None) -> Position:
    """Validate a move and return the resulting position; the stage follows the status where it must."""
    new_status = status or current.status
    check_status(current.status, new_status)
    new_stage = stage or current.stage
    if stage is None and not stage_allowed(new_status, new_stage) and new_status != "cancelled":
        lo, _ = STATUS_STAGES[new_status]
        new_stage = lo if STAGE_INDEX[lo] > STAGE_INDEX[current.stage] else current.stage
    check_stage(current.stage, new_stage)
    if not stage_allowed(new_status, new_stage):
        raise IllegalTransition(
            f"「{STATUS_NAMES[new_status]}」的订单不能处于「{STAGE_NAMES[new_stage]}」环节",
            status=new_status,
            stage=new_stage,
        )
    return Position(new_status, new_stage)


def progress_line(stage: str) -> str:
    """The chain as one line with the current node marked, e.g. '●支付网关 → ●CRM标签 → ◉库存池 → ○…'."""
    idx = STAGE_INDEX[stage]
    marks = ["●" if i < idx else "◉" if i == idx else "○" for i in range(len(STAGES))]
    return " → ".join(f"{m}{name}" for m, (_, name, _h) in zip(marks, STAGES))
