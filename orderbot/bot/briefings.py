"""What the bot tells people on its own schedule, each composed by one function that the scheduler's job and (where
there is one) the chat handler both call, so neither fakes the other:

- `daily_report_reply`: 日报 — the chat's `report.daily` and the morning `daily_report` job;
- `sales_digest_reply`: 我的客户 — a salesperson's morning digest (`my_customers` job);
- `reminder_reply`: 待办逾期提醒 — an owner's overdue tasks (`task_reminders` job).

The figures come from core (`core/reports/daily.py`, `core/reports/sales.py`, `core/tasks.py`); here they become
a `Reply` (with the chart, when a renderer is given).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.bot.charts import trend_lines
from orderbot.bot.dates import cn_date
from orderbot.config import BusinessConfig
from orderbot.core.reports.daily import daily_report
from orderbot.core.reports.sales import SalesDigest
from orderbot.core.tasks import Reminder
from orderbot.messaging.markup import outside
from orderbot.messaging.reply import Button, Card, Chart, Reply, Table

Charts = Callable[..., Awaitable[bytes]]
LIST_AT_MOST = 5  # orders named per line of a salesperson's digest


def _delta(now: float, before: float, pct: bool = False) -> str:
    if pct:
        return f"{(now - before) * 100:+.1f}pp"
    if not before:
        return "—"
    return f"{(now - before) / before * 100:+.0f}%"


async def daily_report_reply(
    session: AsyncSession, config: BusinessConfig, day: date, *, now: datetime, charts: Charts | None
) -> Reply:
    """The daily report of `day` (local), as of `now`: the table against the day before and a week before, the
    delay reasons, scan accuracy, open tasks, and the 14-day chart (`charts` None: without it)."""
    today = now.astimezone(ZoneInfo(config.timezone)).date()
    r = await daily_report(session, day, today=today, now=now, tasks=config.tasks)
    d0, d1, d7 = r.figures, r.day_before, r.week_before
    rows = [
        ("订单", d0.orders, d1.orders, d7.orders, False),
        ("发货", d0.shipped, d1.shipped, d7.shipped, False),
        ("延迟", d0.delayed, d1.delayed, d7.delayed, False),
        ("退货", d0.returns, d1.returns, d7.returns, False),
        ("取消率", d0.cancel_rate, d1.cancel_rate, d7.cancel_rate, True),
        ("扫码出库包裹", d0.scanned_packages, d1.scanned_packages, d7.scanned_packages, False),
    ]
    table = Table(
        ("指标", cn_date(day), "较前一日", "较上周同日"),
        tuple(
            (name, f"{v * 100:.1f}%" if pct else f"{v:,}", _delta(v, a, pct), _delta(v, b, pct))
            for name, v, a, b, pct in rows
        ),
    )
    reasons = "、".join(f"{outside(reason)}{n}单" for reason, n in d0.top_reasons) or "无"
    if d0.scan_accuracy is not None:
        reasons += f"\n扫码准确率 {d0.scan_accuracy * 100:.1f}%（行业基准 87%）"
    reasons += f"\n待办：未完成 {r.open_tasks} 条，其中逾期 {r.late_tasks} 条（截至发送时）"
    title = f"{cn_date(day)}日报"
    png = None
    if charts is not None:
        png = await charts(
            trend_lines,
            "近14天订单与发货",
            [d for d, _ in r.orders],
            {"订单": [v for _, v in r.orders], "发货": [v for _, v in r.shipped]},
            previous={"订单": [v for _, v in r.orders_before]},
        )
    return Reply(
        title=title, table=table, text=f"延迟主因：{reasons}", markdown=True, charts=(Chart(title, png),) if png else ()
    )


def sales_digest_reply(d: SalesDigest, today: date) -> Reply:
    """One salesperson's morning message about their customers' orders."""
    lines = [f"{d.name}，早上好！你名下客户的订单（{cn_date(today)}）：", f"· 进行中 {d.open} 单"]
    if d.late:
        late = sorted(d.late, key=lambda r: (-r[2], r[0]))
        shown = "、".join(f"{no}（{cust}，逾期{days}天）" for no, cust, days in late[:LIST_AT_MOST])
        lines.append(f"· 已过承诺交付日未签收 {len(late)} 单：{shown}{' 等' if len(late) > LIST_AT_MOST else ''}")
    if d.stuck:
        stuck = sorted(d.stuck, key=lambda r: (-(r[3] - r[4]), r[0]))
        shown = "、".join(
            f"{no}（{cust}，{stage}已{hours:.0f}小时，正常{normal}小时内）"
            for no, cust, stage, hours, normal in stuck[:LIST_AT_MOST]
        )
        lines.append(f"· 卡在环节 {len(stuck)} 单：{shown}{' 等' if len(stuck) > LIST_AT_MOST else ''}")
    if d.delivered:
        late_count = sum(1 for _, was_late in d.delivered if was_late)
        nos = "、".join(no for no, _ in sorted(d.delivered)[:LIST_AT_MOST])
        extra = f"（其中 {late_count} 单晚于承诺日）" if late_count else ""
        lines.append(
            f"· 昨日签收 {len(d.delivered)} 单{extra}：{nos}{' 等' if len(d.delivered) > LIST_AT_MOST else ''}"
        )
    return Reply(title=f"我的客户 · {cn_date(today)}", text="\n".join(lines))


def reminder_reply(due: list[Reminder]) -> Reply:
    """One owner's overdue reminder: every task that just became overdue for them (each is reminded once), so
    a backlog arrives as one message, not hundreds; buttons for the most overdue."""
    due = sorted(due, key=lambda r: -r.overdue_hours)

    def line(r: Reminder) -> str:
        about = f"（订单 {r.order_no}）" if r.order_no and r.order_no not in r.subject else ""
        return f"#{r.task_id} 已逾期 {r.overdue_hours:g} 小时：{r.subject}{about}"

    if len(due) == 1:
        text = f"你的待办 {line(due[0])}"
    else:
        shown = "\n".join(f"· {line(r)}" for r in due[:5])
        text = f"你有 {len(due)} 条待办已逾期：\n{shown}" + ("\n……回复「我的待办」查看全部" if len(due) > 5 else "")
    first = due[0]
    buttons = (
        Button(f"完成 #{first.task_id}", f"task_done:{first.task_id}", 1),
        Button(f"转给… #{first.task_id}", f"task_hand:{first.task_id}", 2),
    )
    return Reply(
        title="待办逾期提醒",
        text=text,
        card=Card(
            f"待办逾期：{first.type_name}" + (f" 等 {len(due)} 条" if len(due) > 1 else ""),
            text,
            buttons=buttons,
            task_id=f"task-overdue-{first.task_id}",
        ),
    )
