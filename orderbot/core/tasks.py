"""Tasks (待办): list, take, complete and hand over the work orders the bot opens, with their history.

A task belongs to a team by its type (business config `tasks.teams`) and may have an owner (`assignee`).
Who may do what:
- list: "me" = my own tasks plus the open tasks of my teams; a team's list for that team's leads; "all" for
  management/admin;
- take (认领): a member of the task's team when nobody owns it, the team's lead or a manager at any time;
- done (完成) and hand over (转给): the owner, the team's lead or a manager (a member may also close an unowned
  task of the team, which takes it).
Each change is a `task_events` row (the card's history). A task is overdue once it has been open longer than
its type's `due_hours`; `remind_overdue` reminds its owner once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import TasksConfig
from orderbot.core.errors import DomainError, PermissionDenied
from orderbot.core.models import Order, Staff, Task, TaskEvent

SCOPES = ("me", "warehouse", "customs", "logistics", "after_sales", "sales", "all")
SCOPE_NAMES = {
    "me": "我的",
    "warehouse": "仓库",
    "customs": "关务",
    "logistics": "物流",
    "after_sales": "售后",
    "sales": "销售",
    "all": "全部",
}
TEAM_MEMBERS = {
    "warehouse": {"warehouse", "warehouse_lead"},
    "customs": {"customs"},
    "logistics": {"logistics"},
    "after_sales": {"after_sales_supervisor", "customer_service"},
    "sales": {"sales", "sales_supervisor", "sales_director", "key_account"},
}
TEAM_LEADS = {
    "warehouse": {"warehouse_lead"},
    "customs": {"customs"},
    "logistics": {"logistics"},
    "after_sales": {"after_sales_supervisor"},
    "sales": {"sales_supervisor", "sales_director"},
}
MANAGERS = frozenset({"management", "admin"})
TYPE_NAMES = {
    "scan_exception": "异常扫码工单",
    "customs_docs": "报关资料待补",
    "customs_stuck": "卡关-人工介入",
    "returns_audit": "逆向物流稽查",
    "tracking_stale": "轨迹停更",
    "no_tracking": "无运单号发货",
    "follow_up": "客户跟进",
    "channel_conflict": "渠道状态冲突",
}
ACTION_NAMES = {"take": "认领", "hand_over": "转给", "done": "完成", "reminded": "逾期提醒"}
LIST_LIMIT = 20


@dataclass(frozen=True)
class TaskView:
    id: int
    type: str
    type_name: str
    subject: str
    order_no: str | None
    assignee: str | None
    assignee_name: str | None
    state: str
    created_at: datetime
    due_at: datetime
    overdue: bool


@dataclass(frozen=True)
class TaskHistory:
    at: datetime
    actor: str
    action: str
    detail: str | None


@dataclass(frozen=True)
class TaskList:
    scope: str
    total: int
    overdue: int
    tasks: list[TaskView]


def teams_of(roles: Iterable[str]) -> set[str]:
    roles = set(roles)
    return {team for team, members in TEAM_MEMBERS.items() if roles & members}


def _types(cfg: TasksConfig, teams: Iterable[str]) -> set[str]:
    return {t for team in teams for t in cfg.teams.get(team, ())}


def team_of(cfg: TasksConfig, task_type: str) -> set[str]:
    return {team for team, types in cfg.teams.items() if task_type in types}


def may_list(scope: str, roles: Iterable[str]) -> bool:
    roles = set(roles)
    if scope == "me" or roles & MANAGERS:
        return True
    return scope != "all" and bool(roles & TEAM_LEADS.get(scope, set()))


def _due(cfg: TasksConfig, task_type: str, created_at: datetime) -> datetime:
    return created_at + timedelta(hours=cfg.due_for(task_type))


def _overdue_clause(cfg: TasksConfig, now: datetime) -> ColumnElement[bool]:
    """SQL truth of "open longer than its type allows", one branch per configured type."""
    whens = [(Task.type == t, Task.created_at < now - timedelta(hours=h)) for t, h in cfg.due_hours.items()]
    default = Task.created_at < now - timedelta(hours=cfg.default_due_hours)
    return case(*whens, else_=default) if whens else default


async def list_tasks(
    session: AsyncSession,
    cfg: TasksConfig,
    *,
    staff_id: str,
    roles: Iterable[str],
    scope: str,
    now: datetime,
    limit: int = LIST_LIMIT,
) -> TaskList:
    """Open tasks of a scope, overdue first, then newest first. Raises PermissionDenied for a team's list
    asked by someone who does not lead it."""
    roles = set(roles)
    if scope not in SCOPES:
        raise DomainError(f"不认识的待办范围：{scope}（可选：{'、'.join(SCOPE_NAMES.values())}）")
    if not may_list(scope, roles):
        raise PermissionDenied(f"{SCOPE_NAMES[scope]}待办只有该组负责人或管理层可以查看；你可以问「我的待办」。")
    where = [Task.state == "open"]
    if scope == "me":
        types = _types(cfg, teams_of(roles))
        where.append(or_(Task.assignee == staff_id, Task.type.in_(types) if types else false()))
    elif scope != "all":
        where.append(Task.type.in_(_types(cfg, [scope])) if cfg.teams.get(scope) else false())
    late = _overdue_clause(cfg, now)
    total, overdue = (
        await session.execute(select(func.count(), func.coalesce(func.sum(case((late, 1), else_=0)), 0)).where(*where))
    ).one()
    rows = (
        await session.execute(
            select(Task, Order.order_no, Staff.name)
            .outerjoin(Order, Order.id == Task.order_id)
            .outerjoin(Staff, Staff.id == Task.assignee)
            .where(*where)
            .order_by(case((late, 0), else_=1), Task.created_at.desc(), Task.id.desc())
            .limit(limit)
        )
    ).all()
    return TaskList(scope, int(total), int(overdue), [_view(cfg, t, no, name, now) for t, no, name in rows])


def _view(cfg: TasksConfig, task: Task, order_no: str | None, name: str | None, now: datetime) -> TaskView:
    due = _due(cfg, task.type, task.created_at)
    return TaskView(
        task.id,
        task.type,
        TYPE_NAMES.get(task.type, task.type),
        task.subject,
        order_no,
        task.assignee,
        name,
        task.state,
        task.created_at,
        due,
        task.state == "open" and due < now,
    )


async def task_card(
    session: AsyncSession, cfg: TasksConfig, task_id: int, *, now: datetime
) -> tuple[TaskView, list[TaskHistory]]:
    """One task and its history, oldest first."""
    row = (
        await session.execute(
            select(Task, Order.order_no, Staff.name)
            .outerjoin(Order, Order.id == Task.order_id)
            .outerjoin(Staff, Staff.id == Task.assignee)
            .where(Task.id == task_id)
        )
    ).first()
    if row is None:
        raise DomainError(f"没有编号为 #{task_id} 的待办。")
    history = [
        TaskHistory(e.at, e.actor, e.action, e.detail)
        for e in (
            await session.execute(
                select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.at, TaskEvent.id)
            )
        ).scalars()
    ]
    return _view(cfg, row[0], row[1], row[2], now), history


async def _open_task(session: AsyncSession, task_id: int) -> Task:
    task = (await session.execute(select(Task).where(Task.id == task_id).with_for_update())).scalar_one_or_none()
    if task is None:
        raise DomainError(f"没有编号为 #{task_id} 的待办。")
    if task.state != "open":
        raise DomainError(f"待办 #{task_id} 已{'完成' if task.state == 'done' else '取消'}，无需再处理。")
    return task


def _rank(cfg: TasksConfig, task: Task, staff_id: str, roles: set[str]) -> str:
    """manager | lead | owner | member | outsider, the strongest that applies."""
    if roles & MANAGERS:
        return "manager"
    teams = team_of(cfg, task.type)
    if any(roles & TEAM_LEADS.get(t, set()) for t in teams):
        return "lead"
    if task.assignee == staff_id:
        return "owner"
    if any(roles & TEAM_MEMBERS.get(t, set()) for t in teams):
        return "member"
    return "outsider"


def _event(
    session: AsyncSession, task: Task, actor: str, action: str, now: datetime, detail: str | None = None
) -> None:
    session.add(TaskEvent(task_id=task.id, at=now, actor=actor, action=action, detail=detail))


async def _name(session: AsyncSession, staff_id: str | None) -> str:
    if staff_id is None:
        return "（无人）"
    return (await session.execute(select(Staff.name).where(Staff.id == staff_id))).scalar() or staff_id


async def take_task(
    session: AsyncSession, cfg: TasksConfig, task_id: int, *, staff_id: str, roles: Iterable[str], now: datetime
) -> Task:
    task = await _open_task(session, task_id)
    rank = _rank(cfg, task, staff_id, set(roles))
    if task.assignee == staff_id:
        raise DomainError(f"待办 #{task.id} 已经是你的了。")
    if rank == "outsider" or (rank == "member" and task.assignee is not None):
        owner = f"已由 {await _name(session, task.assignee)} 负责，" if task.assignee else ""
        raise PermissionDenied(f"待办 #{task.id} {owner}你不能认领；请找该组负责人转给你。")
    before = task.assignee
    task.assignee = staff_id
    _event(session, task, staff_id, "take", now, f"从 {await _name(session, before)} 处接手" if before else None)
    return task


async def complete_task(
    session: AsyncSession,
    cfg: TasksConfig,
    task_id: int,
    *,
    staff_id: str,
    roles: Iterable[str],
    now: datetime,
    note: str | None = None,
) -> Task:
    task = await _open_task(session, task_id)
    rank = _rank(cfg, task, staff_id, set(roles))
    if rank == "outsider" or (rank == "member" and task.assignee not in (None, staff_id)):
        raise PermissionDenied(f"待办 #{task.id} 由 {await _name(session, task.assignee)} 负责，你不能关闭。")
    if task.assignee is None:
        task.assignee = staff_id
    task.state, task.closed_at = "done", now
    _event(session, task, staff_id, "done", now, note)
    return task


async def hand_over_task(
    session: AsyncSession,
    cfg: TasksConfig,
    task_id: int,
    *,
    to_staff: str,
    staff_id: str,
    roles: Iterable[str],
    now: datetime,
) -> Task:
    task = await _open_task(session, task_id)
    rank = _rank(cfg, task, staff_id, set(roles))
    if rank not in ("manager", "lead", "owner"):
        raise PermissionDenied(f"只有待办 #{task.id} 的负责人或该组组长可以转交。")
    target = (await session.execute(select(Staff).where(Staff.id == to_staff, Staff.active.is_(True)))).scalar()
    if target is None:
        raise DomainError(f"员工名录里没有在职的 {to_staff}。")
    if target.id == task.assignee:
        raise DomainError(f"待办 #{task.id} 已经由 {target.name} 负责。")
    before = task.assignee
    task.assignee, task.reminded_at = target.id, None  # a new owner gets their own overdue reminder
    _event(session, task, staff_id, "hand_over", now, f"{await _name(session, before)} → {target.name}")
    return task


async def candidates(session: AsyncSession, cfg: TasksConfig, task_id: int, *, limit: int = 4) -> list[tuple[str, str]]:
    """(staff id, name) of active members of the task's team(s) other than its owner: who it can go to."""
    task = await session.get(Task, task_id)
    if task is None:
        raise DomainError(f"没有编号为 #{task_id} 的待办。")
    roles = set().union(*(TEAM_MEMBERS.get(t, set()) for t in team_of(cfg, task.type))) or set(MANAGERS)
    people = (
        await session.execute(
            select(Staff.id, Staff.name, Staff.roles).where(Staff.active.is_(True)).order_by(Staff.id)
        )
    ).all()
    return [(sid, name) for sid, name, r in people if sid != task.assignee and roles & set(r or [])][:limit]


@dataclass(frozen=True)
class Reminder:
    task_id: int
    staff_id: str
    subject: str
    type_name: str
    order_no: str | None
    overdue_hours: float


async def remind_overdue(session: AsyncSession, cfg: TasksConfig, *, now: datetime, limit: int = 500) -> list[Reminder]:
    """Owned open tasks past their due time that were not reminded yet: mark them reminded (once) and return
    whom to tell. The caller queues the messages in this same transaction."""
    rows = (
        await session.execute(
            select(Task, Order.order_no)
            .outerjoin(Order, Order.id == Task.order_id)
            .where(
                Task.state == "open", Task.assignee.is_not(None), Task.reminded_at.is_(None), _overdue_clause(cfg, now)
            )
            .order_by(Task.created_at, Task.id)
            .limit(limit)
            .with_for_update(of=Task)
        )
    ).all()
    out = []
    for task, order_no in rows:
        task.reminded_at = now
        _event(session, task, "orderbot", "reminded", now, None)
        late = (now - _due(cfg, task.type, task.created_at)).total_seconds() / 3600
        assert task.assignee is not None  # the query selects assigned tasks only
        out.append(
            Reminder(
                task.id, task.assignee, task.subject, TYPE_NAMES.get(task.type, task.type), order_no, round(late, 1)
            )
        )
    return out


async def task_counts(session: AsyncSession, cfg: TasksConfig, *, now: datetime) -> tuple[int, int]:
    """(open, overdue) over every task: the daily report's line."""
    total, late = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(case((_overdue_clause(cfg, now), 1), else_=0)), 0)).where(
                Task.state == "open"
            )
        )
    ).one()
    return int(total), int(late)


__all__ = [
    "SCOPES",
    "TaskList",
    "TaskView",
    "candidates",
    "complete_task",
    "hand_over_task",
    "list_tasks",
    "may_list",
    "remind_overdue",
    "take_task",
    "task_card",
    "task_counts",
]
