"""`orderbot catalog import FILE`: products, or carriers with their contract clauses, from .csv/.xlsx/.jsonl.

The kind of file is told by its headers (a 条款编号 / clause_no column means carriers). Bad rows are reported
as `第 N 行: 字段: 原因` and the rest still load; re-importing the same file changes nothing, a changed row
updates its product or clause. Rows are validated before anything is written, a batch at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orderbot.config import BusinessConfig
from orderbot.core.catalog.carriers import upsert_clauses
from orderbot.core.catalog.products import upsert_products
from orderbot.core.catalog.values import parse_clause, parse_product
from orderbot.core.errors import DomainError
from orderbot.db.engine import Database
from orderbot.tools.tabular import ImportReport, alias_lookup, header_fields, records, row_label

PRODUCT_ALIASES = {
    "sku": ("sku", "商品编码", "SKU编码", "货号"),
    "name": ("name", "品名", "商品名称", "名称"),
    "category": ("category", "类目", "品类", "分类"),
    "un_number": ("un_number", "UN编号", "UN号", "un"),
    "weight_g": ("weight_g", "重量(g)", "重量（g）", "重量", "weight"),
    "unit_cost": ("unit_cost", "成本", "单位成本", "采购价"),
    "reorder_point": ("reorder_point", "补货点", "安全库存"),
    "lead_time_days": ("lead_time_days", "采购周期(天)", "采购周期（天）", "采购周期", "交期(天)"),
}
CARRIER_ALIASES = {
    "carrier": ("carrier", "carrier_code", "承运商", "承运商代码", "物流商"),
    "carrier_name": ("carrier_name", "承运商名称", "物流商名称"),
    "clause_no": ("clause_no", "条款编号", "条款号"),
    "title": ("title", "条款标题", "标题"),
    "text": ("text", "条款内容", "内容"),
    "causes": ("causes", "适用延误原因", "延误原因", "覆盖原因"),
    "compensation": ("compensation", "赔付条款", "赔付", "赔偿"),
}
_PRODUCTS = alias_lookup(PRODUCT_ALIASES)
_CARRIERS = alias_lookup(CARRIER_ALIASES)
BATCH = 500


def file_kind(path: Path) -> str:
    """'carriers' when the header names a clause number, else 'products'."""
    return "carriers" if "clause_no" in header_fields(path, _CARRIERS) else "products"


async def import_catalog(
    db: Database, path: Path, *, config: BusinessConfig, progress: Callable[[int], None] | None = None
) -> tuple[str, ImportReport]:
    """Load a products or carriers file; returns the kind and the report. Raises `ImportFileError` for a file
    that cannot be read as a whole (type, missing required column)."""
    kind = file_kind(path)
    if kind == "carriers":
        lookup, required, parse = (
            _CARRIERS,
            {"carrier": "承运商 / carrier", "clause_no": "条款编号 / clause_no", "text": "条款内容 / text"},
            parse_clause,
        )
    else:
        lookup, required, parse = (
            _PRODUCTS,
            {"sku": "商品编码 / sku", "name": "品名 / name", "category": "类目 / category"},
            parse_product,
        )
    report = ImportReport()
    batch: list = []

    async def flush() -> None:
        async with db.write() as session:
            if kind == "carriers":
                outcomes = await upsert_clauses(session, batch)
            else:
                outcomes = await upsert_products(session, batch, config)
        for outcome in outcomes:
            setattr(report, outcome, getattr(report, outcome) + 1)
        if progress:
            progress(len(batch))
        batch.clear()

    for n, raw in records(path, lookup, required):
        if isinstance(raw, Exception):
            report.rejected.append((row_label(n), str(raw)))
            continue
        try:
            batch.append(parse(raw))
        except DomainError as exc:
            report.rejected.append((row_label(n), exc.message))
            if progress:
                progress(1)
            continue
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    return kind, report
