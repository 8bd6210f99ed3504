"""Parsing one master-data row (text cells as they come from a file) into checked values.

Every problem of a row is collected, so the report names all of them at once (`第 N 行: 字段: 原因；…`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from orderbot.core.causes import CAUSES
from orderbot.core.errors import InvalidRow

SKU_RE = re.compile(r"^[A-Z0-9]+(?:[-_.][A-Z0-9]+)*$")
UN_RE = re.compile(r"^(?:UN)?\s*(\d{4})$", re.IGNORECASE)
_CAUSE_BY_NAME = {name: code for code, name in CAUSES.items()}
_SPLIT = re.compile(r"[,，;；、\s]+")


@dataclass(frozen=True)
class ProductIn:
    sku: str
    name: str
    category: str
    un_number: str | None
    weight_g: int | None
    unit_cost_cents: int | None
    reorder_point: int | None
    lead_time_days: int | None


@dataclass(frozen=True)
class ClauseIn:
    carrier_code: str
    carrier_name: str | None
    clause_no: str
    title: str
    text: str
    causes: tuple[str, ...]
    compensation: str | None


class RowReader:
    """Reads text cells into checked values, collecting every problem of the row."""

    def __init__(self, raw: Mapping[str, str | None]) -> None:
        self.raw = raw
        self.problems: list[tuple[str, str]] = []

    def text(self, key: str, label: str, *, required: bool = False, max_len: int | None = None) -> str | None:
        value = (self.raw.get(key) or "").strip() or None
        if value is None and required:
            self.problems.append((label, "必填"))
        elif value is not None and max_len and len(value) > max_len:
            self.problems.append((label, f"超过 {max_len} 个字符"))
        return value

    def integer(
        self, key: str, label: str, *, lo: int = 0, hi: int | None = None, required: bool = False
    ) -> int | None:
        value = self.text(key, label, required=required)
        if value is None:
            return None
        try:
            number = Decimal(value.replace(",", ""))
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():  # "NaN" and "Infinity" parse as Decimals but are no numbers
            self.problems.append((label, f"不是数字：{value}"))
            return None
        if number != number.to_integral_value():
            self.problems.append((label, f"应为整数：{value}"))
            return None
        if number < lo or (hi is not None and number > hi):
            self.problems.append(
                (label, f"应在 {lo}–{hi} 之间：{value}" if hi is not None else f"不能小于 {lo}：{value}")
            )
            return None
        return int(number)

    def money_cents(self, key: str, label: str) -> int | None:
        value = self.text(key, label)
        if value is None:
            return None
        try:
            amount = Decimal(value.replace(",", "").lstrip("¥￥"))
        except InvalidOperation:
            amount = Decimal("NaN")
        exponent = amount.as_tuple().exponent  # a letter for "NaN" and "Infinity", which parse but are no amounts
        if isinstance(exponent, str):
            self.problems.append((label, f"不是金额：{value}"))
            return None
        if amount < 0 or exponent < -2:
            self.problems.append((label, f"应为不小于0、最多两位小数的金额：{value}"))
            return None
        return int(amount * 100)

    def sku(self, key: str = "sku", label: str = "商品编码") -> str | None:
        value = self.text(key, label, required=True, max_len=64)
        if value is None:
            return None
        value = value.upper()
        if not SKU_RE.match(value):
            self.problems.append((label, f"只能由字母、数字和连字符组成：{value}"))
            return None
        return value

    def done(self) -> None:
        if self.problems:
            raise InvalidRow(self.problems)


def parse_product(raw: Mapping[str, str | None]) -> ProductIn:
    """A product row; raises `InvalidRow` naming every bad field."""
    row = RowReader(raw)
    sku = row.sku()
    name = row.text("name", "品名", required=True, max_len=128)
    category = row.text("category", "类目", required=True, max_len=64)
    un = row.text("un_number", "UN编号")
    if un is not None:
        m = UN_RE.match(un)
        if m is None:
            row.problems.append(("UN编号", f"应为 UN 加四位数字，例如 UN3481：{un}"))
        un = f"UN{m.group(1)}" if m else None
    weight = row.integer("weight_g", "重量(g)", hi=1_000_000)
    cost = row.money_cents("unit_cost", "成本")
    reorder = row.integer("reorder_point", "补货点", hi=10_000_000)
    lead = row.integer("lead_time_days", "采购周期(天)", hi=365)
    row.done()
    assert sku is not None and name is not None and category is not None  # required: done() raised otherwise
    return ProductIn(sku, name, category, un, weight, cost, reorder, lead)


def parse_causes(value: str | None) -> tuple[list[str], list[str]]:
    """('customs_inspection, 天气') → (codes, unknown words); codes or their Chinese names, any separator."""
    codes: list[str] = []
    unknown: list[str] = []
    for word in _SPLIT.split(value or ""):
        if not word:
            continue
        code = word.lower() if word.lower() in CAUSES else _CAUSE_BY_NAME.get(word)
        if code is None:
            unknown.append(word)
        elif code not in codes:
            codes.append(code)
    return codes, unknown


def parse_clause(raw: Mapping[str, str | None]) -> ClauseIn:
    """A carrier contract clause row; raises `InvalidRow` naming every bad field."""
    row = RowReader(raw)
    carrier = row.text("carrier", "承运商", required=True, max_len=32)
    name = row.text("carrier_name", "承运商名称", max_len=64)
    no = row.text("clause_no", "条款编号", required=True, max_len=16)
    title = row.text("title", "条款标题", max_len=128) or ""
    text = row.text("text", "条款内容", required=True)
    causes, unknown = parse_causes(row.text("causes", "适用延误原因"))
    if unknown:
        row.problems.append(
            ("适用延误原因", f"不认识 {'、'.join(unknown)}；可选：" + "、".join(f"{c}({n})" for c, n in CAUSES.items()))
        )
    compensation = row.text("compensation", "赔付条款")
    row.done()
    assert carrier is not None and no is not None and text is not None  # required: done() raised otherwise
    return ClauseIn(carrier.upper(), name, no, title, text, tuple(causes), compensation)
