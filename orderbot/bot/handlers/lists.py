"""The questions people really ask: which orders have a given problem, a customer's orders, one figure.

Each answers from live data through the core queries (`core.orders.lists`, `core.reports.figures`); every
order line goes through the role's field visibility (`core.orders.visibility.project`), as the order card does.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from openpyxl import Workbook

from orderbot.bot import confirm
from orderbot.bot.handlers.base import REPORTERS, Context, cn_date, route
from orderbot.messaging.reply import Attachment, Reply
from orderbot.core.channels import channel_name
from orderbot.core.orders.lists import (
    EXPORT_CAP,
    FILTER_NAMES,
    ListedOrder,
    customer_orders,
    find_customers,
    order_list,
)
from orderbot.core.orders.states import STAGE_NAMES, STATUS_NAMES
from orderbot.core.orders.visibility import project
from orderbot.core.reports.figures import FIGURE_NAMES, figure

SHOWN = 20
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _span(d_from: date, d_to: date) -> str:
    return cn_date(d_from) if d_from == d_to else f"{cn_date(d_from)}–{cn_date(d_to)}"


def _how_long(since, ctx: Context) -> str:
    if since is None:
        return "—"
    if isinstance(since, datetime):
        hours = max((ctx.now - since).total_seconds() / 3600, 0)
        return f"{hours:.0f} 小时" if hours < 48 else f"{hours / 24:.1f} 天"
    return f"晚 {(ctx.today - since).days} 天" if since < ctx.today else f"{cn_date(since)}到期"


def _visible(row: ListedOrder, ctx: Context) -> dict:
    """The row as the asker may see it (the same projection as the order card)."""
    view = {
        "order_no": row.order_no,
        "customer_id": row.customer_id,
        "customer_name": row.customer_name,
        "stage": row.stage,
        "stage_name": STAGE_NAMES.get(row.stage, row.stage),
        "status_name": STATUS_NAMES.get(row.status, row.status),
        **row.private,
    }
    return project(view, ctx.asker.roles, ctx.config.visibility, in_group=ctx.in_group)


def _cells(row: ListedOrder, ctx: Context) -> list[str]:
    seen = _visible(row, ctx)
    why = row.why + "".join(f"：{seen[k]}" for k in row.private if seen.get(k))
    return [
        row.order_no,
        seen.get("customer_name") or seen.get("customer_id") or "—",
        seen.get("stage_name", "—"),
        _how_long(row.since, ctx),
        why,
    ]


def _xlsx(title: str, rows: list[list[str]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "订单"
    ws.append(["订单号", "客户", "环节", "多久", "原因"])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def orders_with_problem(intent, ctx: Context) -> Reply:
    s = intent.slots
    name = s.get("filter")
    if name not in FILTER_NAMES:
        return Reply(
            text="要查哪类订单？可以说：延误的、卡在海关的、报关资料没齐的、退货没入库的、待审核的、等库存的、"
            "还没扫码的，例如「昨天哪些订单延误了」。"
        )
    d_from = date.fromisoformat(s["date_from"]) if s.get("date_from") else None
    d_to = date.fromisoformat(s["date_to"]) if s.get("date_to") else None
    where = dict(region=s.get("region"), channel=s.get("channel"), customer=s.get("customer"))
    total, rows = await order_list(
        ctx.session, name, today=ctx.today, date_from=d_from, date_to=d_to, limit=EXPORT_CAP, **where
    )
    scope = "".join(
        x
        for x in (
            f"{s['region']}区" if s.get("region") else "",
            channel_name(s["channel"]) if s.get("channel") else "",
            f"客户{s['customer']}" if s.get("customer") else "",
        )
        if x
    )
    when = f"{_span(d_from, d_to)}到期" if name == "delayed" and d_from and d_to else "当前"
    title = f"{scope}{when}{FILTER_NAMES[name]}"
    if not total:
        return Reply(title=title, text="没有符合的订单 👍")
    limit = min(int(s.get("limit") or SHOWN), SHOWN)
    cells = [_cells(r, ctx) for r in rows]
    lines = [f"{i}. {' · '.join(c)}" for i, c in enumerate(cells[:limit], 1)]
    text = f"共 {total} 单，最新的问题在前：\n" + "\n".join(lines)
    files = ()
    if total > limit:
        text += f"\n另有 {total - limit} 单，见附件表格。"
        if total > len(rows):
            text += f"（表格列出最新的 {len(rows)} 单）"
        files = (Attachment(f"{title}.xlsx", _xlsx(title, cells), XLSX),)
    return Reply(title=title, text=text, files=files, meta={"total": total})


async def orders_of_customer(intent, ctx: Context) -> Reply:
    s = intent.slots
    named = (s.get("customer") or "").strip()
    found = await find_customers(ctx.session, named)
    if not found:
        return Reply(text=f"客户名录里没有「{named}」。可以用客户编号（例如 C00059）或名称里的几个字再问一次。")
    if len(found) > 1:
        readings = [
            {"name": "customer.orders", "slots": {**dict(s), "customer": c.id}, "label": f"{c.name}（{c.id}）"}
            for c in found[:5]
        ]
        return Reply(
            text=f"有 {len(found)} 个客户名字里有「{named}」。",
            meta=confirm.choices(readings, f"有好几个客户名字里有「{named}」，你要查哪一个？"),
        )
    customer = found[0]
    if s.get("date_from") and s.get("date_to"):
        from orderbot.core.reports.common import day_bounds

        start, end = day_bounds(date.fromisoformat(s["date_from"]), date.fromisoformat(s["date_to"]))
        total, rows = await customer_orders(ctx.session, customer.id, since=start, until=end)
        span = f"{_span(date.fromisoformat(s['date_from']), date.fromisoformat(s['date_to']))}的订单"
    else:
        total, rows = await customer_orders(ctx.session, customer.id, since=ctx.now - timedelta(days=30))
        span = "在途和近30天的订单"
    tags = "、".join(customer.tags or []) or "无"
    title = f"{customer.name}（{customer.id}）"
    if not rows:
        return Reply(title=title, text=f"标签：{tags}\n没有{span}。")
    lines = []
    for r in rows:
        due = f" · 承诺 {cn_date(r.promised)}" if r.promised else ""
        where = f" · {channel_name(r.channel)}" if r.channel else ""
        lines.append(
            f"{r.order_no} · {STATUS_NAMES.get(r.status, r.status)} · {STAGE_NAMES.get(r.stage, r.stage)}{due}{where}"
        )
    more = f"\n另有 {total - len(rows)} 单未列出，可以查单号看详情。" if total > len(rows) else ""
    return Reply(title=title, text=f"标签：{tags}\n{span}（{total} 单）：\n" + "\n".join(lines) + more)


def _show(metric: str, value: float) -> str:
    return f"{value * 100:.1f}%" if metric == "cancel_rate" else f"{value:,.0f}"


async def one_figure(intent, ctx: Context) -> Reply:
    s = intent.slots
    metric = s.get("metric") or "orders"
    if metric not in FIGURE_NAMES:
        return Reply(
            text="可以查这些数：订单数、发货数、延迟单、取消率、退货数、扫码出库包裹，例如「昨天一共发了多少单」。"
        )
    d_from = date.fromisoformat(s["date_from"]) if s.get("date_from") else ctx.today
    d_to = date.fromisoformat(s["date_to"]) if s.get("date_to") else ctx.today
    f = await figure(
        ctx.session,
        metric,
        date_from=d_from,
        date_to=d_to,
        today=ctx.today,
        channel=s.get("channel"),
        region=s.get("region"),
    )
    scope = "".join(
        x
        for x in (channel_name(s["channel"]) if s.get("channel") else "", f"{s['region']}区" if s.get("region") else "")
        if x
    )
    name = FIGURE_NAMES[metric]
    if metric == "cancel_rate":
        change = f"{(f.value - f.previous) * 100:+.1f} 个百分点"
    elif f.previous:
        change = f"{(f.value - f.previous) / f.previous * 100:+.0f}%"
    else:
        change = "前一段为 0"
    partial = "（今天还没过完）" if d_to >= ctx.today else ""
    text = (
        f"{scope}{_span(d_from, d_to)}{name}：**{_show(metric, f.value)}**{partial}\n"
        f"前一段（{_span(f.previous_from, f.previous_to)}）：{_show(metric, f.previous)}，变化 {change}"
    )
    return Reply(title=f"{scope}{name}", text=text, markdown=True)


ROUTES = [  # each counts or lists over many orders: heavy, off the event loop
    route(
        "order.list",
        orders_with_problem,
        None,
        title="查有问题的订单",
        example="昨天哪些订单延误了 / 现在卡在海关的单子",
        heavy=True,
    ),
    route(
        "customer.orders",
        orders_of_customer,
        None,
        title="查客户的订单",
        example="查一下杭州某某贸易的订单",
        heavy=True,
    ),
    route(
        "report.metric",
        one_figure,
        REPORTERS | {"warehouse"},
        title="查一个数",
        example="昨天一共发了多少单 / TikTok这个月取消率多少",
        heavy=True,
    ),
]
