"""Delay records from live carrier events: a tracking exception or a customs hold becomes one `delays` row.

The row names the lane (origin warehouse → destination), the carrier, the cause category (`core.causes`) chosen
by the business config's `delay_causes` mapping (words in the carrier's message first, then the provider's sub
status), and the carrier contract clause that covers that category. One live record per order: a later event
for the same order updates it (cause, clause, days late) instead of adding a second row, so 延迟原因TOP5, the
cockpit, the 主因 column and the claim evidence pack count each affected order once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import DelayCausesConfig
from orderbot.core.causes import CAUSES
from orderbot.core.models import CarrierClause, Delay, Order
from orderbot.core.orders.promise import effective_promised

# Words that name a cause in a contract clause's title or text (Chinese contracts), used until clauses carry
# their covered categories as data.
CLAUSE_WORDS: dict[str, tuple[str, ...]] = {
    "customs_inspection": ("查验", "清关", "海关"),
    "port_congestion": ("罢工", "港口", "拥堵"),
    "weather": ("天气", "台风", "暴雪", "暴雨", "寒潮"),
    "address": ("地址", "收件信息"),
    "carrier_capacity": ("运力", "爆仓"),
    "lost_damaged": ("丢失", "遗失", "破损", "损坏"),
}
COUNTRY_NAMES = {
    "US": "美国",
    "CA": "加拿大",
    "MX": "墨西哥",
    "GB": "英国",
    "UK": "英国",
    "DE": "德国",
    "FR": "法国",
    "IT": "意大利",
    "ES": "西班牙",
    "NL": "荷兰",
    "PL": "波兰",
    "AU": "澳大利亚",
    "JP": "日本",
    "KR": "韩国",
    "SG": "新加坡",
    "BR": "巴西",
    "AE": "阿联酋",
    "SA": "沙特",
}


def classify(rules: DelayCausesConfig, sub_status: str, message: str | None) -> str:
    """The cause category of one event: a keyword in the carrier's message wins (a generic `Exception_Delayed`
    says little, "Port strike" says it all), then the sub status, else `other`."""
    text = (message or "").lower()
    if text:
        for code, words in rules.keywords.items():
            if any(w.lower() in text for w in words):
                return code
    return rules.sub_statuses.get(sub_status, "other")


def lane_of(origin: str | None, dest_country: str | None) -> str:
    dest = (dest_country or "").upper()
    return f"{origin or '?'}-{COUNTRY_NAMES.get(dest, dest or '?')}"[:32]


def _covers(clause: CarrierClause, cause: str) -> bool | None:
    """True/False when the clause lists the categories it covers (a column the catalogue import may add),
    None when it does not say."""
    listed = getattr(clause, "causes", None)
    if listed is None:
        listed = getattr(clause, "categories", None)
    if isinstance(listed, (list, tuple, set)) and listed:  # an empty list says nothing either
        return cause in listed
    if isinstance(listed, str) and listed.strip():
        return cause in {p.strip() for p in listed.replace("，", ",").split(",")}
    return None


async def clause_for(session: AsyncSession, carrier_code: str | None, cause: str) -> CarrierClause | None:
    """The carrier's contract clause covering a cause category: by the clause's own list of categories when it
    has one, else by the category's name or words in the clause title, then in its text; lowest clause no wins."""
    if not carrier_code or cause not in CAUSES or cause == "other":
        return None
    clauses = (
        (
            await session.execute(
                select(CarrierClause)
                .where(CarrierClause.carrier_code == carrier_code)
                .order_by(CarrierClause.clause_no)
            )
        )
        .scalars()
        .all()
    )
    listed = [c for c in clauses if _covers(c, cause)]
    if listed:
        return listed[0]
    words = (*CAUSES[cause].split("/"), *CLAUSE_WORDS.get(cause, ()))
    unlisted = [c for c in clauses if _covers(c, cause) is None]
    for field in ("title", "text"):
        for clause in unlisted:
            if any(w in (getattr(clause, field) or "") for w in words):
                return clause
    return None


def _days_late(order: Order, today: date) -> int:
    promised = effective_promised(order.promised_date, order.promised_override)
    if promised is None:
        return 0
    expected = order.expected_delivery or today
    return max(0, (expected - promised).days)


async def record_delay(
    session: AsyncSession,
    order: Order,
    *,
    rules: DelayCausesConfig,
    sub_status: str,
    message: str | None,
    text: str,
    source: str,
    at: datetime,
    today: date,
) -> Delay:
    """Create or update the order's delay record (the caller holds the order's row lock). `source` is the
    provider that reported it; `text` the cause as the carrier worded it, for the report and the evidence."""
    category = classify(rules, sub_status, message)
    clause = await clause_for(session, order.carrier_code, category)
    values = dict(
        category=category,
        reason=CAUSES[category][:16],
        lane=lane_of(order.origin, order.dest_country),
        cause=text,
        carrier_code=order.carrier_code,
        clause_no=clause.clause_no if clause else None,
        delay_days=_days_late(order, today),
        source=source[:24],
        updated_at=at,
    )
    delay = (
        await session.execute(select(Delay).where(Delay.order_id == order.id).order_by(Delay.id).limit(1))
    ).scalar_one_or_none()
    if delay is None:
        delay = Delay(order_id=order.id, recorded_at=at, **values)
        session.add(delay)
    else:
        for key, value in values.items():
            setattr(delay, key, value)
    return delay
