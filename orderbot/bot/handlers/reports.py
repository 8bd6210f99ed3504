"""Report intents: delayed customers, delay causes (with the claim evidence pack), pipeline, daily, trends."""

from __future__ import annotations

import io
from datetime import date, timedelta

from openpyxl import Workbook

from orderbot.messaging.markup import outside
from orderbot.core.channels import channel_name
from orderbot.core.reports.delays import claim_evidence, delay_reasons, top_delayed_customers
from orderbot.core.reports.metrics import METRIC_NAMES, series
from orderbot.core.reports.pipeline import pipeline
from orderbot.bot.briefings import daily_report_reply
from orderbot.bot.charts import ranking_bars, trend_lines
from orderbot.messaging.reply import Attachment, Button, Card, Chart, Reply, Table
from orderbot.bot.handlers.base import REPORTERS, Context, cn_date, route


def _span(d_from: date, d_to: date) -> str:
    return cn_date(d_from) if d_from == d_to else f"{cn_date(d_from)}–{cn_date(d_to)}"


async def delayed_customers(intent, ctx: Context) -> Reply:
    s = intent.slots
    d_from, d_to = date.fromisoformat(s["date_from"]), date.fromisoformat(s["date_to"])
    rows = await top_delayed_customers(
        ctx.session,
        date_from=d_from,
        date_to=d_to,
        today=ctx.today,
        region=s.get("region"),
        province=s.get("province"),
        limit=s["limit"],
    )
    where = s.get("province") or (f"{s['region']}区" if s.get("region") else "全部地区")
    title = f"{where}{_span(d_from, d_to)}延迟TOP{s['limit']}客户"
    if not rows:
        return Reply(title=title, text="这段时间没有延迟的订单 👍")
    table = Table(
        ("客户", "延迟单", "到期单", "主因"),
        tuple((r.name, str(r.delayed), str(r.due), r.main_reason or "—") for r in rows),
    )
    png = await ctx.chart(
        ranking_bars,
        title,
        [r.name for r in rows],
        [r.delayed for r in rows],
        value_fmt="{:,.0f}单",
        subtitle="延迟 = 晚于承诺日送达，或已过承诺日仍未送达",
    )
    return Reply(title=title, table=table, markdown=True, charts=(Chart(title, png),) if png else ())


def cause_label(c) -> str:
    """'深圳-美国（云途物流）· 港口拥堵/罢工': the lane with its carrier, then the cause."""
    carrier = c.carrier_name or c.carrier
    return f"{c.lane}{'（' + carrier + '）' if carrier else ''} · {c.reason}"


async def causes(intent, ctx: Context) -> Reply:
    s = intent.slots
    d_from, d_to = date.fromisoformat(s["date_from"]), date.fromisoformat(s["date_to"])
    found = await delay_reasons(ctx.session, date_from=d_from, date_to=d_to, limit=s["limit"])
    title = f"{_span(d_from, d_to)}延迟原因TOP{s['limit']}"
    if not found:
        return Reply(title=title, text="这段时间没有记录到延迟原因。")
    text = "\n".join(f"{i}. {outside(c.sentence())}" for i, c in enumerate(found, 1))  # lanes, carriers: imported
    buttons = tuple(
        Button(f"导出第{i}条索赔证据", f"evidence:{c.reason}|{c.lane}|{c.carrier or ''}|{d_from}|{d_to}")
        for i, c in enumerate(found, 1)
        if c.clause_no
    )[:3]
    # One bar per cause row (a dict keyed by reason let rows sharing a reason overwrite each other).
    png = await ctx.chart(
        ranking_bars,
        title,
        [cause_label(c) for c in found],
        [c.orders for c in found],
        value_fmt="{:,.0f}单",
        subtitle="线路（承运商）· 原因",
    )
    card = (
        Card(
            title,
            "点按钮把受影响订单、轨迹、承诺与实际日期和合同条款导出给法务",
            buttons=buttons,
            task_id=f"delay-{d_from}-{d_to}-{ctx.now:%H%M%S}",
        )
        if buttons
        else None
    )
    return Reply(title=title, text=text, markdown=True, card=card, charts=(Chart(title, png),) if png else ())


async def evidence(arg: str, ctx: Context) -> Reply:
    try:
        reason, lane, carrier, d_from, d_to = arg.split("|")
        d_from_, d_to_ = date.fromisoformat(d_from), date.fromisoformat(d_to)
    except ValueError:
        return Reply(text="这个导出按钮的参数不完整，请重新查询延迟原因。")
    rows, clause = await claim_evidence(
        ctx.session, reason=reason, lane=lane, carrier=carrier or None, date_from=d_from_, date_to=d_to_
    )
    if not rows:
        return Reply(text="没有找到受影响的订单。")
    wb = Workbook()
    ws = wb.active
    ws.title = "受影响订单"
    ws.append(["订单号", "客户", "线路", "原因", "说明", "承诺交付", "实际签收", "延误天数", "物流轨迹"])
    for r in rows:
        ws.append(
            [
                r.order_no,
                r.customer,
                r.lane,
                r.reason,
                r.cause,
                r.promised,
                r.delivered or "未签收",
                r.delay_days,
                r.trace,
            ]
        )
    terms = wb.create_sheet("合同条款")
    if clause is not None:
        terms.append(["承运商", "条款", "标题", "原文"])
        terms.append([clause.carrier_code, clause.clause_no, clause.title, clause.text])
    buf = io.BytesIO()
    wb.save(buf)
    name = f"索赔证据_{lane}_{reason}{'_' + carrier if carrier else ''}_{d_from}_{d_to}.xlsx"
    return Reply(
        text=f"已导出 {len(rows)} 单的索赔证据：{name}",
        files=(Attachment(name, buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),),
    )


async def stages(intent, ctx: Context) -> Reply:
    channel = intent.slots.get("channel")
    rows = await pipeline(ctx.session, now=ctx.now, channel=channel)
    title = f"此刻订单分布{'（' + channel_name(channel) + '）' if channel else ''}"
    lines = []
    for r in rows:
        line = f"{r.name}：{r.orders}单"
        if r.stuck:
            worst = "、".join(f"{no}（{h:.0f}小时）" for no, h in r.worst)
            line += f"，**卡住 {r.stuck} 单**（超过{r.normal_hours}小时）：{worst}"
        lines.append(line)
    total, stuck = sum(r.orders for r in rows), sum(r.stuck for r in rows)
    png = await ctx.chart(
        ranking_bars,
        title,
        [r.name for r in rows],
        [r.orders for r in rows],
        value_fmt="{:,.0f}单",
        subtitle=f"在途 {total} 单，卡住 {stuck} 单",
        highlight=[r.name for r in rows if r.stuck],
    )
    return Reply(title=title, text="\n".join(lines), markdown=True, charts=(Chart(title, png),) if png else ())


async def daily(intent, ctx: Context) -> Reply:
    return await daily_report_reply(
        ctx.session, ctx.config, date.fromisoformat(intent.slots["date"]), now=ctx.now, charts=ctx.charts
    )


async def trend(intent, ctx: Context) -> Reply:
    s = intent.slots
    d_from, d_to = date.fromisoformat(s["date_from"]), date.fromisoformat(s["date_to"])
    metric, channel = s["metric"], s.get("channel")
    values = await series(ctx.session, metric, date_from=d_from, date_to=d_to, today=ctx.today, channel=channel)
    span = (d_to - d_from).days + 1
    previous = await series(
        ctx.session,
        metric,
        date_from=d_from - timedelta(days=span),
        date_to=d_from - timedelta(days=1),
        today=ctx.today,
        channel=channel,
    )
    name = METRIC_NAMES[metric]
    title = f"{channel_name(channel) + ' ' if channel else ''}{name}趋势（{_span(d_from, d_to)}）"
    percent = metric == "cancel_rate"
    # Today is not over: its few hours would plot as a cliff at the line's end and pull the average down. The
    # line stops at yesterday (today's point left as a gap) and the text gives today's figure so far.
    full = [v for d, v in values if d < ctx.today] or [v for _, v in values]
    total = sum(full)
    summary = f"平均 {total / len(full) * 100:.2f}%" if percent else f"合计 {total:,.0f}，日均 {total / len(full):,.1f}"
    today = next((v for d, v in values if d == ctx.today), None)
    if today is not None and len(values) > 1:
        so_far = f"{today * 100:.2f}%" if percent else f"{today:,.0f}"
        summary = (
            f"{summary}（不含今天）；今天截至 {ctx.now.astimezone(ctx.zone):%H:%M}：{so_far}，未满一天，不画入曲线"
        )
    else:
        today = None
    png = await ctx.chart(
        trend_lines,
        title,
        [d for d, _ in values],
        {name: [None if today is not None and d == ctx.today else v for d, v in values]},
        previous={name: [v for _, v in previous]},
        percent=percent,
    )
    return Reply(title=title, text=summary, charts=(Chart(title, png),) if png else ())


ROUTES = [  # every report aggregates over many orders (15–270 ms at 1M): heavy, off the event loop
    route(
        "report.top_delayed_customers",
        delayed_customers,
        REPORTERS,
        title="看延迟最多的客户",
        example="查看华东区昨日延迟TOP3客户",
        heavy=True,
    ),
    route("report.delay_reasons", causes, REPORTERS, title="看延迟原因", example="延迟原因TOP5", heavy=True),
    route(
        "action.evidence",
        evidence,
        REPORTERS | {"admin"},
        title="导出索赔证据",
        example="（延迟原因里的按钮）",
        heavy=True,
    ),
    route("report.pipeline", stages, REPORTERS, title="看订单卡在哪个环节", example="现在订单都卡在哪", heavy=True),
    route("report.daily", daily, REPORTERS, title="看日报", example="发一下昨天的日报", heavy=True),
    route("report.trend", trend, REPORTERS, title="看趋势", example="近30天订单趋势 / 本月取消率走势", heavy=True),
]
