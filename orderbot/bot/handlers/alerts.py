"""Alert card buttons: acknowledge, undo an automatic action (the veto), apply a suggestion, and the customs
group's claim / documents-sent / release buttons. Only the rule's owners (and management/admin) may press them;
every press is audited by the dispatcher."""

from __future__ import annotations

from orderbot.core.errors import DomainError, PermissionDenied
from orderbot.core.models import Alert
from orderbot.core.rules import alerts, engine
from orderbot.messaging.reply import Button, Card, Reply, Table
from orderbot.bot.handlers.base import ALERT_OWNERS, Context, route
from datetime import UTC

PRESSERS = ALERT_OWNERS | {"admin", "sales", "key_account"}
ROLE_NAMES = {
    "admin": "管理员",
    "management": "管理层",
    "sales": "销售",
    "sales_supervisor": "销售主管",
    "sales_director": "销售总监",
    "key_account": "大客户经理",
    "customer_service": "客服",
    "customs": "关务",
    "warehouse": "仓库",
    "warehouse_lead": "值班组长",
    "finance": "财务",
    "channel_ops": "渠道运营",
    "logistics": "物流",
    "after_sales_supervisor": "售后主管",
    "product": "产品",
}


def _ids(arg: str) -> list[int]:
    try:
        return [int(x) for x in arg.split(",") if x.strip()]
    except ValueError:
        raise DomainError("这个按钮的参数不对，请在最新的告警卡片上操作。") from None


async def _alert(ctx: Context, arg: str) -> Alert:
    ids = _ids(arg)
    if len(ids) != 1:
        raise DomainError("这个按钮只对应一条告警。")
    alert = await engine.load_alert(ctx.session, ids[0])
    _may_press(ctx, alert)
    return alert


def _may_press(ctx: Context, alert: Alert) -> None:
    if _mine(ctx, alert.rule):
        return
    if alert.rule == "eta_risk" and alert.detail.get("data", {}).get("owner") == ctx.asker.staff_id:
        return
    owners = engine.rule_config(ctx.config, alert.rule).owners
    who = "、".join(ROLE_NAMES.get(o, o) for o in sorted(owners))
    raise PermissionDenied(f"「{engine.RULES[alert.rule].label}」告警由{who}处理，你的角色不能操作。")


async def ack(arg: str, ctx: Context) -> Reply:
    done, skipped = [], 0
    for alert_id in _ids(arg):
        alert = await engine.load_alert(ctx.session, alert_id)
        _may_press(ctx, alert)
        if await engine.acknowledge(ctx.session, alert, actor=ctx.asker.staff_id, now=ctx.now):
            done.append(alert)
        else:
            skipped += 1
    if not done:
        return Reply(text="这些告警已经确认或已恢复，无需再处理。")
    head = done[0].title if len(done) == 1 else f"{len(done)} 条告警"
    tail = f"（另有 {skipped} 条已处理过）" if skipped else ""
    return Reply(
        text=f"{ctx.asker.name} 已确认：{head}。不再重复提醒，条件解除时会自动恢复。{tail}",
        meta={"subject": ",".join(str(a.id) for a in done)[:120]},
    )


async def ack_all(arg: str, ctx: Context) -> Reply:
    """A digest's 全部知道了: every alert of that rule ("*": every rule) announced by then that this person may
    act on (`<rule>:<unix time of the digest>`)."""
    from datetime import datetime

    rule, _, stamp = arg.partition(":")
    if (rule != "*" and rule not in engine.RULES) or not stamp.isdigit():
        raise DomainError("这个按钮的参数不对，请在最新的告警卡片上操作。")
    until = datetime.fromtimestamp(int(stamp) + 1, UTC)
    announced = await alerts.firing_announced_before(ctx.session, None if rule == "*" else rule, until)
    done = [a for a in announced if _mine(ctx, a.rule)]
    if not done and rule != "*" and not _mine(ctx, rule):
        _may_press(ctx, Alert(rule=rule, subject="*", detail={}))
    for alert in done:
        await engine.acknowledge(ctx.session, alert, actor=ctx.asker.staff_id, now=ctx.now)
    if not done:
        return Reply(text="这些告警已经确认或已恢复，无需再处理。")
    label = engine.RULES[rule].label if rule != "*" else "各类"
    return Reply(
        text=f"{ctx.asker.name} 已确认 {len(done)} 条{label}告警。不再重复提醒，条件解除时会自动恢复。",
        meta={"subject": f"{rule}:{len(done)}"},
    )


async def undo(arg: str, ctx: Context) -> Reply:
    alert = await _alert(ctx, arg)
    what = await engine.undo(ctx.session, alert, actor=ctx.asker.staff_id, now=ctx.now)
    return Reply(
        text=f"{ctx.asker.name} 已撤销自动动作：{what}。（{alert.title}）",
        meta={"subject": f"{alert.rule}:{alert.subject}", "audit": what},
    )


async def apply(arg: str, ctx: Context) -> Reply:
    alert = await _alert(ctx, arg)
    what = await engine.apply_suggestion(ctx.session, alert, actor=ctx.asker.staff_id, now=ctx.now)
    return Reply(
        text=f"{ctx.asker.name} 已执行：{what}。如需撤销，点卡片上的「撤销」。",
        meta={"subject": f"{alert.rule}:{alert.subject}", "audit": what},
    )


async def customs_claim(arg: str, ctx: Context) -> Reply:
    alert = await _alert(ctx, arg)
    await alerts.claim_customs(ctx.session, alert, actor=ctx.asker.staff_id, actor_name=ctx.asker.name, now=ctx.now)
    return Reply(text=f"{ctx.asker.name} 已认领 {alert.subject} 的卡关处理。", meta={"subject": alert.subject})


async def customs_docs_sent(arg: str, ctx: Context) -> Reply:
    alert = await _alert(ctx, arg)
    await alerts.customs_docs_sent(ctx.session, alert, actor=ctx.asker.staff_id, now=ctx.now)
    return Reply(text=f"已记录：{alert.subject} 的补充资料已提交，等待海关放行。", meta={"subject": alert.subject})


async def customs_release(arg: str, ctx: Context) -> Reply:
    alert = await _alert(ctx, arg)
    await alerts.release_customs_alert(
        ctx.session, alert, actor=ctx.asker.staff_id, actor_name=ctx.asker.name, now=ctx.now
    )
    return Reply(text=f"{alert.subject} 已放行，卡关告警已恢复。", meta={"subject": alert.subject})


async def docs_done(arg: str, ctx: Context) -> Reply:
    alert = await _alert(ctx, arg)
    closed = await alerts.customs_docs_done(
        ctx.session, alert, actor=ctx.asker.staff_id, actor_name=ctx.asker.name, now=ctx.now
    )
    extra = "" if closed else "（工单此前已关闭）"
    return Reply(text=f"{alert.subject} 报关资料已补齐，不再提醒。{extra}", meta={"subject": alert.subject})


def _mine(ctx: Context, rule: str) -> bool:
    owners = set(engine.rule_config(ctx.config, rule).owners)
    roles = set(ctx.asker.roles)
    return bool(ctx.asker.staff_id in owners or roles & owners or roles & {"management", "admin"})


async def listing(arg, ctx: Context) -> Reply:
    """「告警列表」: the alerts now firing or acknowledged that this person may act on, newest first."""
    rules = [r for r in engine.RULES if _mine(ctx, r)]
    counts = await alerts.open_alert_counts(ctx.session, rules)
    mine = await alerts.open_alerts(ctx.session, rules, limit=30)
    if not mine:
        return Reply(text="目前没有需要你处理的告警。")
    state = {"firing": "触发中", "acknowledged": "已知悉", "pending": "观察中"}
    total = sum(counts.values())
    table = Table(
        ("编号", "规则", "状态", "内容"),
        tuple((f"#{a.id}", engine.RULES[a.rule].label, state[a.state], a.title) for a in mine),
    )
    more = f"（最新 {len(mine)} 条见下表）" if total > len(mine) else ""
    firing = [a for a in mine if a.state == "firing"]
    buttons = tuple(Button(f"知道了 #{a.id}", f"alert_ack:{a.id}", 2) for a in firing[:5])
    if counts.get("firing", 0) > 1:
        buttons += (Button("全部知道了", f"alert_ack_all:*:{int(ctx.now.timestamp())}", 2),)
    card = (
        Card(
            f"告警列表：{counts.get('firing', 0)} 条触发中",
            buttons=buttons,
            task_id=f"alerts-{ctx.asker.staff_id}-{int(ctx.now.timestamp())}",
        )
        if firing
        else None
    )
    summary = "，".join(f"{state[k]} {v}" for k, v in counts.items())
    return Reply(title="告警列表", table=table, text=f"共 {total} 条（{summary}）{more}", card=card)


def _button(name, handler, title):
    return route(f"action.{name}", handler, PRESSERS, write=True, title=title, example="（告警卡片上的按钮）")


ROUTES = [
    route("alert.list", listing, PRESSERS, title="查看告警列表", example="告警列表"),
    _button("alert_ack", ack, "确认告警"),
    _button("alert_ack_all", ack_all, "确认一批告警"),
    _button("alert_undo", undo, "撤销告警的自动动作"),
    _button("alert_apply", apply, "执行告警建议的动作"),
    _button("customs_claim", customs_claim, "认领卡关"),
    _button("customs_docs_sent", customs_docs_sent, "登记补充资料已发"),
    _button("customs_release", customs_release, "放行卡关订单"),
    _button("docs_done", docs_done, "标记报关资料已补齐"),
]
