"""`orderbot import FILE`: orders from .jsonl, .csv or .xlsx (the sheets teams migrate from).

Rows go through the same `ingest_order` as the webhooks. A bad row is reported with its row number and reason
and the rest still load; each order is its own savepoint, so a bad one never takes good ones down with it.
Re-importing the same file changes nothing. CSV/XLSX headers may be English or the usual Chinese column names;
an order may span several rows (one per SKU) or list its SKUs in one `lines` cell as `SKU*2;SKU2*1`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from orderbot.config import BusinessConfig
from orderbot.core.errors import DomainError
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import ingest_order
from orderbot.db.engine import Database
from orderbot.tools.tabular import (  # noqa: F401  (ImportFileError, ImportReport: this module's public names)
    ImportFileError,
    ImportReport,
    alias_lookup,
    flat_rows,
    jsonl_objects,
    row_label,
)

HEADER_ALIASES = {
    "order_no": ("order_no", "订单号", "订单编号"),
    "customer_id": ("customer_id", "customer.id", "客户id", "客户编号"),
    "customer_name": ("customer_name", "customer.name", "客户名称", "客户"),
    "province": ("province", "customer.province", "省份"),
    "wechat_openid": ("wechat_openid", "customer.wechat_openid", "openid"),
    "email": ("email", "customer.email", "邮箱"),
    "amount": ("amount", "金额", "订单金额"),
    "currency": ("currency", "币种"),
    "origin": ("origin", "发货地"),
    "dest_country": ("dest_country", "目的国"),
    "urgency": ("urgency", "紧急等级", "紧急程度"),
    "channel": ("channel", "渠道"),
    "channel_order_id": ("channel_order_id", "渠道单号", "平台单号"),
    "created_at": ("created_at", "下单时间"),
    "status": ("status", "状态", "订单状态"),
    "notes": ("notes", "备注", "客户备注"),
    "sku": ("sku",),
    "qty": ("qty", "数量"),
    "lines": ("lines", "商品", "商品行"),
    "tax_exempt_no": ("tax_exempt_no", "免税资质编号"),
    "invoice_status": ("invoice_status", "开票状态"),
    "tracking_no": ("tracking_no", "运单号"),
    "sales_owner": ("sales_owner", "销售"),
}
_LOOKUP = alias_lookup(HEADER_ALIASES)
CUSTOMER_KEYS = {
    "customer_id": "id",
    "customer_name": "name",
    "province": "province",
    "wechat_openid": "wechat_openid",
    "email": "email",
}
BATCH = 200


def _flat_rows(path: Path) -> Iterator[tuple[int, dict]]:
    return flat_rows(path, _LOOKUP, {"order_no": "订单号 / order_no"})


def _parse_lines_cell(text: str) -> list[dict]:
    out = []
    for part in text.replace("；", ";").replace("，", ";").replace(",", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        sku, _, qty = part.replace("×", "*").partition("*")
        out.append({"sku": sku.strip(), "qty": qty.strip() or "1"})
    return out


def _nest(rows: list[dict]) -> dict:
    first = rows[0]
    order = {k: v for k, v in first.items() if k not in CUSTOMER_KEYS and k not in ("sku", "qty", "lines")}
    order["customer"] = {CUSTOMER_KEYS[k]: v for k, v in first.items() if k in CUSTOMER_KEYS and v}
    lines = []
    for r in rows:
        if r.get("lines"):
            lines += _parse_lines_cell(r["lines"])
        if r.get("sku"):
            lines.append({"sku": r["sku"], "qty": r.get("qty") or "1"})
    order["lines"] = lines
    return {k: v for k, v in order.items() if v is not None}


def read_orders(path: Path) -> Iterator[tuple[str, object]]:
    """Yield (row label, raw order) per order in file order; JSONL lines are orders as they stand."""
    if path.suffix.lower() == ".jsonl":
        for n, obj in jsonl_objects(path):
            yield row_label(n), obj
        return
    groups: dict[str, list[tuple[int, dict]]] = {}
    for n, row in _flat_rows(path):
        groups.setdefault((row.get("order_no") or f"#row{n}").upper(), []).append((n, row))
    for rows in groups.values():
        label = "第 " + "、".join(str(n) for n, _ in rows) + " 行"
        yield label, _nest([r for _, r in rows])


async def import_file(
    db: Database,
    path: Path,
    *,
    config: BusinessConfig,
    now: Callable[[], datetime],
    progress: Callable[[int], None] | None = None,
    actor: str = "import",
) -> ImportReport:
    report = ImportReport()
    batch: list[tuple[str, object]] = []

    async def flush() -> None:
        async with db.write() as session:
            for label, raw in batch:
                if isinstance(raw, Exception):
                    report.rejected.append((label, str(raw)))
                    continue
                try:
                    data = parse_order(raw)
                    async with session.begin_nested():
                        result = await ingest_order(
                            session, data, source="import", config=config, now=now(), actor=actor
                        )
                except DomainError as exc:
                    report.rejected.append((label, exc.message))
                    continue
                setattr(report, result.outcome, getattr(report, result.outcome) + 1)
        if progress:
            progress(len(batch))
        batch.clear()

    for item in read_orders(path):
        batch.append(item)
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    return report
