"""Tasks in chat: 我的待办 / 仓库待办 / 关务待办 (intent `task.list`), a task's card with its history, and the
认领 / 完成 / 转给… buttons. Permission lives in `core.tasks`; every press is audited by the dispatcher."""

from __future__ import annotations

from orderbot.core import tasks
from orderbot.core.errors import DomainError
from orderbot.messaging.reply import Button, Card, Reply, Table
from orderbot.bot.handlers.base import Context, route

BUTTONS_FOR = 2  # tasks with buttons on the list card (three buttons each; WeCom shows up to six)


def _when(ctx: Context, at) -> str:
    return f"{at.astimezone(ctx.zone):%m-%d %H:%M}"


def _id(arg: str) -> int:
    try:
        return int(arg.split(":")[0])
    except ValueError:
        raise DomainError("这个按钮的参数不对，请在最新的待办卡片上操作。") from None


def _buttons(t: tasks.TaskView) -> tuple[Button, ...]:
    return (
        Button(f"认领 #{t.id}", f"task_take:{t.id}", 2),
        Button(f"完成 #{t.id}", f"task_done:{t.id}", 1),
        Button(f"转给… #{t.id}", f"task_hand:{t.id}", 2),
    )


async def listing(intent, ctx: Context) -> Reply:
    scope = intent.slots.get("scope") or "me"
    found = await tasks.list_tasks(
        ctx.session, ctx.config.tasks, staff_id=ctx.asker.staff_id, roles=ctx.asker.roles, scope=scope, now=ctx.now
    )
    title = f"{tasks.SCOPE_NAMES[scope]}待办"
    if not found.tasks:
        return Reply(title=title, text="没有未完成的待办 👍")
    table = Table(
        ("编号", "类型", "内容", "负责人", "创建", "状态"),
        tuple(
            (
                f"#{t.id}",
                t.type_name,
                t.subject,
                t.assignee_name or t.assignee or "待认领",
                _when(ctx, t.created_at),
                "⚠️逾期" if t.overdue else "进行中",
            )
            for t in found.tasks
        ),
    )
    more = f"，下表是最紧急的 {len(found.tasks)} 条" if found.total > len(found.tasks) else ""
    buttons = tuple(b for t in found.tasks[:BUTTONS_FOR] for b in _buttons(t))
    card = Card(
        f"{title}：{found.total} 条未完成（逾期 {found.overdue}）",
        "；".join(f"#{t.id} {t.subject}" for t in found.tasks[:BUTTONS_FOR]),
        buttons=buttons,
        task_id=f"tasks-{ctx.asker.staff_id}-{int(ctx.now.timestamp())}",
    )
    return Reply(
        title=title,
        table=table,
        text=f"共 {found.total} 条未完成，其中逾期 {found.overdue} 条{more}。"
        "回复按钮认领、完成或转交；点「转给…」选人。",
        card=card,
    )


async def view(arg: str, ctx: Context, *, note: str | None = None, hand: bool = False) -> Reply:
    """A task's card: what it is about, whose it is, when it is due, and its history."""
    task_id = _id(arg)
    t, history = await tasks.task_card(ctx.session, ctx.config.tasks, task_id, now=ctx.now)
    fields = [
        ("类型", t.type_name),
        ("负责人", t.assignee_name or t.assignee or "待认领"),
        ("创建", _when(ctx, t.created_at)),
        ("到期", _when(ctx, t.due_at) + ("（已逾期）" if t.overdue else "")),
    ]
    if t.order_no:
        fields.insert(1, ("订单", t.order_no))
    lines = [
        f"{_when(ctx, h.at)} {h.actor} {tasks.ACTION_NAMES.get(h.action, h.action)}"
        + (f"：{h.detail}" if h.detail else "")
        for h in history
    ]
    state = {"open": "", "done": "（已完成）", "cancelled": "（已取消）"}[t.state]
    if t.state != "open":
        buttons = ()
    elif hand:
        people = await tasks.candidates(ctx.session, ctx.config.tasks, t.id)
        buttons = tuple(Button(f"转给 {name}", f"task_hand:{t.id}:{sid}", 2) for sid, name in people)
    else:
        buttons = _buttons(t)
    text = "\n".join([*(note and [note] or []), t.subject, "处理记录：" + ("；".join(lines) if lines else "暂无")])
    return Reply(
        title=f"待办 #{t.id}{state}",
        text=text,
        card=Card(
            f"待办 #{t.id} {t.type_name}{state}",
            t.subject,
            tuple(fields),
            buttons,
            f"task-{t.id}-{int(ctx.now.timestamp())}",
        ),
        meta={"subject": f"task:{t.id}"},
    )


async def take(arg: str, ctx: Context) -> Reply:
    task = await tasks.take_task(
        ctx.session, ctx.config.tasks, _id(arg), staff_id=ctx.asker.staff_id, roles=ctx.asker.roles, now=ctx.now
    )
    return await view(str(task.id), ctx, note=f"{ctx.asker.name} 已认领待办 #{task.id}。")


async def done(arg: str, ctx: Context) -> Reply:
    task = await tasks.complete_task(
        ctx.session, ctx.config.tasks, _id(arg), staff_id=ctx.asker.staff_id, roles=ctx.asker.roles, now=ctx.now
    )
    return await view(str(task.id), ctx, note=f"{ctx.asker.name} 已完成待办 #{task.id}。")


async def hand(arg: str, ctx: Context) -> Reply:
    """`task_hand:<id>` shows whom it can go to; `task_hand:<id>:<staff id>` hands it over."""
    task_id, _, to_staff = arg.partition(":")
    if not to_staff:
        return await view(task_id, ctx, note="选择要转给谁：", hand=True)
    task = await tasks.hand_over_task(
        ctx.session,
        ctx.config.tasks,
        _id(task_id),
        to_staff=to_staff,
        staff_id=ctx.asker.staff_id,
        roles=ctx.asker.roles,
        now=ctx.now,
    )
    return await view(str(task.id), ctx, note=f"{ctx.asker.name} 已转交待办 #{task.id}。")


ROUTES = [
    route("task.list", listing, None, title="查看待办", example="我的待办 / 仓库待办 / 关务待办"),
    route("action.task_view", view, None, title="查看待办详情", example="（待办卡片上的按钮）"),
    route("action.task_take", take, None, write=True, title="认领待办", example="（待办卡片上的「认领」）"),
    route("action.task_done", done, None, write=True, title="完成待办", example="（待办卡片上的「完成」）"),
    route("action.task_hand", hand, None, write=True, title="转交待办", example="（待办卡片上的「转给…」）"),
]
