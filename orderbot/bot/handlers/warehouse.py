"""Warehouse: scans (the packer's answer, the lead's tickets and heatmap, the customer's notice), the duty
lead changed in chat, and the waybill gate."""

from __future__ import annotations

from dataclasses import replace

from orderbot.core import outbox
from orderbot.core.errors import DomainError
from orderbot.core.models import Staff
from orderbot.core.staff import find_staff
from orderbot.core.warehouse.labels import split_label
from orderbot.core.warehouse.scanning import FIELDS, check_waybill, scan_package, set_lead_on_duty
from orderbot.bot.charts import scan_heatmap
from orderbot.messaging.notify import notify_groups
from orderbot.messaging.reply import Chart, Reply
from orderbot.bot.handlers.base import WAREHOUSE, Context, route


SCAN_REFUSED = "你的角色不能扫码出库，扫码未生效。需要以下角色之一：{roles}（业务配置 [warehouse] scan_roles）。"


async def scan(event, ctx: Context) -> Reply:
    if not ctx.label_secret:
        return Reply(text="扫码出库还没启用：管理员需要配置 ORDERBOT_LABEL_SECRET。")
    asker = ctx.asker
    if asker is not None and not set(ctx.config.warehouse.scan_roles) & asker.roles:
        # Scanning ships: only the roles in [warehouse] scan_roles may do it (issue 13: finance shipped an order).
        return Reply(
            text=SCAN_REFUSED.format(roles="、".join(ctx.config.warehouse.scan_roles)), meta={"audit": "scan_refused"}
        )
    result = await scan_package(
        ctx.session,
        raw=event.text,
        staff_id=asker.staff_id if asker else None,
        platform_user=event.origin.user_id,
        station=event.station,
        now=ctx.now,
        config=ctx.config,
        secret=ctx.label_secret,
    )
    for notice in result.notices:
        charts = ()
        if notice.title == "疑似批次标签打印偏移" and result.streak:
            labels = [f"{s.at.astimezone(ctx.zone):%H:%M:%S} {s.outcome}" for s in result.streak]
            png = await ctx.chart(
                scan_heatmap,
                f"{result.station or '工位'} 最近{len(labels)}次扫码",
                labels,
                list(FIELDS),
                [list(s.disagree) for s in result.streak],
                annotations=[(split_label(s.raw) or ["?"] * 6)[1:] for s in result.streak],
            )
            charts = (Chart("扫码对比热力图", png),) if png else ()
        channel, destination = await ctx.addresses.staff(ctx.session, notice.staff_id)
        await outbox.enqueue(
            ctx.session,
            channel=channel,
            destination=destination,
            kind="reply",
            now=ctx.now,
            payload=Reply(title=notice.title, text=notice.text, charts=charts, digest_key=notice.digest_key).to_dict(),
        )
    if result.exception is not None:  # 仓库群 (groups receiving "scan_exception") sees every ticket too
        title, text = result.exception
        await notify_groups(
            ctx.session,
            ctx.config,
            "scan_exception",
            Reply(title=title, text=text, digest_key="scan_exception"),
            now=ctx.now,
            dedupe_key=f"scan_exception:{result.scan_id}",
        )
    message = result.message
    # With no way to reach the customer, a task for customer service instead (and the packer is told so).
    if result.customer is not None and not await ctx.addresses.notify_customer(
        ctx.session, result.customer, now=ctx.now
    ):
        message = message.replace("已通知客户", "客户没有可用的联系方式，已转客服任务通知")
    return Reply(text=message, meta={"subject": result.order_no or "", "audit": result.outcome})


async def _lead(name: str, ctx: Context) -> Staff:
    person = await find_staff(ctx.session, name)
    if person is None or "warehouse_lead" not in person.roles:
        raise DomainError(f"没找到叫「{name}」的值班组长（需要在员工名录里有 warehouse_lead 角色）。")
    return person


async def preview_duty(name: str, ctx: Context) -> str:
    person = await _lead(name, ctx)
    return (
        f"将把今天（{ctx.today.month}月{ctx.today.day}日）的值班组长改为 {person.name}，之后的异常扫码工单都会派给 TA。"
    )


async def set_duty(name: str, ctx: Context) -> Reply:
    person = await _lead(name, ctx)
    await set_lead_on_duty(ctx.session, ctx.today, person.id, by=ctx.asker.staff_id, now=ctx.now)
    return Reply(
        text=f"今天的值班组长已改为 {person.name}，之后的异常扫码工单都会派给 TA。", meta={"subject": person.id}
    )


async def waybill(order_no: str, ctx: Context) -> Reply:
    order = await check_waybill(ctx.session, order_no)
    return Reply(text=f"{order.order_no} 的包裹已全部扫码出库，可以申请面单。")


ROUTES = [
    replace(
        route("scan", scan, None, write=True, title="扫码出库", example="（用企业微信扫一扫包裹二维码）"), audit=False
    ),  # the scans table is the record
    route(
        "duty.set",
        set_duty,
        {"warehouse_lead", "management"},
        write=True,
        title="更换今天的值班组长",
        example="今天值班组长改为赵强",
        who="值班组长",
        preview=preview_duty,
    ),
    route("waybill.check", waybill, WAREHOUSE | {"logistics"}, title="申请面单", example="申请面单 SO202602010001"),
]
