"""What handlers share: the context they get, the route that describes each, clarifying questions, help."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.bot.dates import cn_date as cn_date  # handlers take the date format from here
from orderbot.config import BusinessConfig
from orderbot.messaging.reply import Reply

SLOT_ASKS = {
    "order_ref": "订单号、渠道单号或运单号（例如 SO202602010001、YT123456789CN）",
    "eta": "新的交付日期（例如 3月5日 或 2026-03-05）",
    "channel": "渠道（亚马逊、独立站、TikTok、速卖通、Temu、eBay）",
    "sku": "SKU（例如 PB-20K-BLK）",
    "rule": "告警规则（取消率、退货未入库、重复下单、卡关、天气）",
    "staff": "要看哪位同事（员工名录里的姓名，例如 张三），或者说「我」「仓库」",
    "customer": "客户编号或名称（例如 C00059、杭州某某贸易）",
    "filter": "要查哪类订单（延误、卡关、报关资料没齐、退货未入库、待审核、等库存、未扫码）",
    "metric": "要看哪个数（订单数、发货数、延迟单、取消率、退货数、扫码数）",
}


@dataclass(frozen=True)
class Asker:
    """Who is asking: a staff member (their roles decide what they may do) and, in a group, the chat."""

    staff_id: str
    name: str
    roles: frozenset[str]
    chat_id: str | None = None


@dataclass
class Context:
    asker: Asker
    session: AsyncSession
    now: datetime
    config: BusinessConfig
    charts: Callable[..., Awaitable[bytes]] | None
    parser: Any = None
    addresses: Any = None
    label_secret: str | None = None
    lang: str = "zh"  # "en" when the asker wrote English: replies that can follow the language do

    @property
    def zone(self):
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.config.timezone)

    @property
    def today(self):
        from zoneinfo import ZoneInfo

        return self.now.astimezone(ZoneInfo(self.config.timezone)).date()

    @property
    def in_group(self) -> bool:
        return self.asker.chat_id is not None

    async def chart(self, fn, *args, **kwargs) -> bytes | None:
        return await self.charts(fn, *args, **kwargs) if self.charts is not None else None


@dataclass(frozen=True)
class Route:
    name: str
    handler: Callable[[Any, Context], Awaitable[Reply]]
    roles: frozenset[str] | None  # None: every staff member
    write: bool
    refusal: str
    title: str  # what it does, in a few words
    example: str
    slots_help: tuple[str, ...] = field(default=())
    audit: bool = True
    heavy: bool = False  # a read-only route that aggregates many rows: runs in `Database.read(heavy=True)`
    # For a write: what it will do, in words, before it is done (a typed write waits for 确认). Reads only; may
    # raise a DomainError (no such order) to refuse at once. None: a generic description from the slots.
    preview: Callable[[Any, Context], Awaitable[Reply | str]] | None = None

    def clarify(self, intent) -> Reply:
        missing = [m for m in getattr(intent, "missing", ()) if m in SLOT_ASKS]
        if missing:
            asks = "\n".join(f"· {SLOT_ASKS[m]}" for m in missing)
            return Reply(text=f"要{self.title}，还需要：\n{asks}\n例如：{self.example}")
        return Reply(text=f"你是想{self.title}吗？可以这样说：{self.example}")


def route(
    name: str,
    handler,
    roles,
    *,
    write: bool = False,
    title: str,
    example: str,
    who: str = "",
    heavy: bool = False,
    preview=None,
) -> Route:
    refusal = f"「{title}」需要{who}权限，你的角色暂时不能操作。" if who else f"你的角色暂时不能{title}。"
    return Route(
        name,
        handler,
        frozenset(roles) if roles is not None else None,
        write,
        refusal,
        title,
        example,
        heavy=heavy,
        preview=preview,
    )


def allowed(route: Route, roles: frozenset[str]) -> bool:
    """May someone with these roles use the route (admins may use everything)."""
    return route.roles is None or bool(route.roles & roles) or "admin" in roles


def help_reply(
    roles: frozenset[str], suggestions: list[str], *, not_understood: bool = False, lang: str = "zh"
) -> Reply:
    """What this person's roles let them ask, one line each with an example; English when they wrote English."""
    from orderbot.bot.handlers import ROUTES

    mine = [r for name, r in ROUTES.items() if not name.startswith("action.") and name != "help" and allowed(r, roles)]
    if lang == "en":
        return _help_en(ROUTES, mine, suggestions, not_understood)
    lines = []
    if not_understood:
        lines.append("没太明白你的意思。")
        picks = [ROUTES[s] for s in suggestions if s in ROUTES][:3]
        if picks:
            lines.append("你是想：")
            lines += [f"{i}. {r.title}：{r.example}" for i, r in enumerate(picks, 1)]
            lines.append("")
    lines.append("我能帮你：" if not not_understood else "我还能帮你：")
    lines += [f"· {r.title}：{r.example}" for r in mine]
    if any(r.write for r in mine):
        lines.append("打字发起的修改会先给你看清要做什么，点「确认」（或回复 1）后才执行。")
    return Reply(text="\n".join(lines), title="OrderBot 帮助" if not not_understood else "")


def _help_en(routes, mine, suggestions, not_understood: bool) -> Reply:
    from orderbot.bot.handlers.help_en import EN

    def line(r) -> str:
        title, example = EN.get(r.name, (r.title, r.example))
        return f"{title}: {example}"

    lines = []
    if not_understood:
        lines.append("Sorry, I did not understand that.")
        picks = [routes[s] for s in suggestions if s in routes][:3]
        if picks:
            lines += ["Did you mean:"] + [f"{i}. {line(r)}" for i, r in enumerate(picks, 1)] + [""]
    lines.append("I can also help you with:" if not_understood else "I can help you with:")
    lines += [f"· {line(r)}" for r in mine]
    lines.append("Chinese works too, e.g. 帮助. A change you type waits for your Confirm before it is done.")
    return Reply(text="\n".join(lines), title="" if not_understood else "OrderBot help")


SALES = frozenset({"sales", "sales_supervisor", "sales_director", "key_account", "management"})
REPORTERS = SALES | {
    "customer_service",
    "customs",
    "logistics",
    "channel_ops",
    "after_sales_supervisor",
    "product",
    "finance",
    "warehouse_lead",
}
STOCK_READERS = REPORTERS | {"warehouse"}
WAREHOUSE = frozenset({"warehouse", "warehouse_lead", "management", "logistics"})
ALERT_OWNERS = frozenset(
    {"management", "channel_ops", "customs", "after_sales_supervisor", "warehouse_lead", "logistics", "sales_director"}
)
