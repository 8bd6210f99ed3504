"""The generic order value (CONTRACT.md) that every door — import, webhook, Shopify — turns its input into."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import String
from sqlalchemy.orm import ColumnProperty, InstrumentedAttribute

from orderbot.core.channels import normalise_channel
from orderbot.core.errors import InvalidOrder
from orderbot.core.models import Channel, Customer, Order, Product
from orderbot.core.orders.states import STATUS_NAMES

URGENCY_ALIASES = {
    "normal": "normal",
    "普通": "normal",
    "一般": "normal",
    "常规": "normal",
    "urgent": "urgent",
    "加急": "urgent",
    "紧急": "urgent",
    "急": "urgent",
    "critical": "critical",
    "特急": "critical",
    "特别紧急": "critical",
    "最急": "critical",
}
URGENCY_NAMES = {"normal": "普通", "urgent": "加急", "critical": "特急"}
STATUS_ALIASES = {**{k: k for k in STATUS_NAMES}, **{v: k for k, v in STATUS_NAMES.items()}}
_ORDER_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{2,31}$")
_SKU = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
NOTES_MAX = 4000  # characters; notes are a Text column, but a card must stay readable and a body bounded


def column_length(column: InstrumentedAttribute[Any]) -> int:
    """The length of a `String(n)` model column, so every door's limits follow the schema instead of copies."""
    prop = column.property
    assert isinstance(prop, ColumnProperty), f"{column} is not a column"
    kind = prop.columns[0].type
    assert isinstance(kind, String) and kind.length is not None, f"{column} is not a String(n) column"
    return kind.length


def _max(column: InstrumentedAttribute[Any]) -> int:
    return column_length(column)


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    id: str = Field(min_length=1, max_length=_max(Customer.id))
    name: str | None = Field(None, max_length=_max(Customer.name))
    province: str | None = Field(None, max_length=_max(Customer.province))
    wechat_openid: str | None = Field(None, max_length=_max(Customer.wechat_openid))
    email: str | None = Field(None, max_length=_max(Customer.email))


class LineIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    sku: str = Field(min_length=1, max_length=_max(Product.sku))
    qty: int = Field(ge=1, le=100_000)

    @field_validator("sku")
    @classmethod
    def _sku(cls, v: str) -> str:
        v = v.upper()
        if not _SKU.match(v):
            raise ValueError("SKU只能由字母、数字和连字符组成")
        return v


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    order_no: str
    customer: CustomerIn
    amount: Decimal
    origin: str = Field(min_length=1, max_length=_max(Order.origin))
    urgency: str = Field(max_length=32)
    currency: str = "CNY"
    channel: str | None = Field(None, max_length=_max(Channel.code))
    channel_order_id: str | None = Field(None, max_length=_max(Order.channel_order_id))
    dest_country: str | None = None
    created_at: datetime | None = None
    lines: list[LineIn] = Field([], max_length=500)
    notes: str | None = Field(None, max_length=NOTES_MAX)
    status: str = Field("paid", max_length=32)
    tax_exempt_no: str | None = Field(None, max_length=_max(Order.tax_exempt_no))
    invoice_status: str | None = None
    cancel_reason: str | None = Field(None, max_length=NOTES_MAX)
    tracking_no: str | None = Field(None, max_length=_max(Order.tracking_no))
    sales_owner: str | None = Field(None, max_length=_max(Order.sales_owner))
    updated_at: datetime | None = None  # the source's own update time, for out-of-order deliveries

    @field_validator("order_no")
    @classmethod
    def _order_no(cls, v: str) -> str:
        if not _ORDER_NO.match(v):
            raise ValueError("订单号应为3-32位字母、数字、-或_")
        return v.upper()

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, v: object) -> Decimal:
        try:
            d = Decimal(str(v).replace(",", "").replace("¥", "").strip())
        except (InvalidOperation, ValueError):
            raise ValueError("金额不是数字") from None
        if not d.is_finite() or d < 0:
            raise ValueError("金额必须是非负数")
        if d >= Decimal("1e12"):  # before quantize, which cannot represent 1e400 to the cent
            raise ValueError("金额过大")
        if d != d.quantize(Decimal("0.01")):
            raise ValueError("金额最多两位小数")
        return d

    @field_validator("urgency")
    @classmethod
    def _urgency(cls, v: str) -> str:
        key = URGENCY_ALIASES.get(v.strip().lower())
        if key is None:
            raise ValueError("紧急等级应为 normal/urgent/critical（普通/加急/特急）")
        return key

    @field_validator("status")
    @classmethod
    def _status(cls, v: str) -> str:
        key = STATUS_ALIASES.get(v.strip().lower()) or STATUS_ALIASES.get(v.strip())
        if key is None:
            raise ValueError(f"未知状态；可用：{', '.join(STATUS_NAMES)}")
        return key

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        return normalise_channel(v) if v else None

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{3}", v):
            raise ValueError("币种应为三位字母代码，如 CNY、USD")
        return v.upper()

    @field_validator("dest_country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v and not re.fullmatch(r"[A-Za-z]{2}", v):
            raise ValueError("目的国应为两位国家代码，如 US、GB、DE")
        return v.upper() if v else None

    @field_validator("invoice_status")
    @classmethod
    def _invoice(cls, v: str | None) -> str | None:
        if v and v not in ("已开票", "待退税"):
            raise ValueError("开票状态应为 已开票 或 待退税")
        return v

    @property
    def amount_cents(self) -> int:
        return int(self.amount * 100)

    def created_at_or(self, now: datetime, tz: str) -> datetime:
        return _aware(self.created_at, tz) if self.created_at else now

    def updated_at_aware(self, tz: str) -> datetime | None:
        return _aware(self.updated_at, tz) if self.updated_at else None


def _aware(dt: datetime, tz: str) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))


FIELD_NAMES = {
    "order_no": "订单号",
    "customer": "客户",
    "customer.id": "客户ID",
    "amount": "金额",
    "origin": "发货地",
    "urgency": "紧急等级",
    "lines": "商品行",
    "status": "状态",
    "dest_country": "目的国",
    "created_at": "下单时间",
}


def parse_order(data: object) -> OrderIn:
    """Validate a generic order mapping, raising `InvalidOrder` with every problem named in Chinese."""
    if not isinstance(data, dict):
        raise InvalidOrder([("-", "订单必须是一个JSON对象")])
    try:
        return OrderIn.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "-"
            label = FIELD_NAMES.get(field, field)
            msg = "必填，不能为空" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
            problems.append((label if label == field else f"{label}({field})", msg))
        raise InvalidOrder(problems) from None
