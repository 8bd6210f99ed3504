"""`orderbot stock receive FILE`: receiving lines (sku, qty, batch, optional PO no. and arrival) into the ledger.

Each row is validated before anything is written; a bad row or an unknown SKU is reported as
`第 N 行: 字段: 原因` and the rest still load. A row is identified by SKU + batch + PO no., so re-importing the
file books nothing twice. Orders waiting for a received SKU are released in order of promise date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from orderbot.config import BusinessConfig
from orderbot.core.catalog.values import RowReader
from orderbot.core.errors import DomainError
from orderbot.core.models import Product
from orderbot.core.stock.receiving import ReceiptLine, receive_lines
from orderbot.db.engine import Database
from orderbot.tools.tabular import alias_lookup, records, row_label

ALIASES = {
    "sku": ("sku", "商品编码", "SKU编码", "货号"),
    "qty": ("qty", "数量", "入库数量", "到货数量"),
    "batch": ("batch", "batch_no", "批次", "批次号"),
    "po_no": ("po_no", "采购单号", "采购单", "po"),
    "expected_at": ("expected_at", "预计到货", "预计到货时间", "eta"),
}
_LOOKUP = alias_lookup(ALIASES)
BATCH = 1000


@dataclass
class ReceiveReport:
    received: int = 0
    due: int = 0
    unchanged: int = 0
    released: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def parse_line(raw: dict, tz: str) -> ReceiptLine:
    row = RowReader(raw)
    sku = row.sku()
    qty = row.integer("qty", "数量", lo=1, hi=100_000_000, required=True)
    batch = row.text("batch", "批次", required=True, max_len=32)
    po_no = row.text("po_no", "采购单号", max_len=64)
    expected = row.text("expected_at", "预计到货")
    expected_at = None
    if expected:
        try:
            expected_at = datetime.fromisoformat(expected.replace("/", "-"))
        except ValueError:
            row.problems.append(("预计到货", f"不是日期时间（例如 2026-03-05 或 2026-03-05 14:00）：{expected}"))
        else:
            if expected_at.tzinfo is None:
                expected_at = expected_at.replace(tzinfo=ZoneInfo(tz))
    row.done()
    return ReceiptLine(sku, qty, batch, po_no, expected_at)


async def receive_file(
    db: Database,
    path: Path,
    *,
    config: BusinessConfig,
    now: Callable[[], datetime],
    actor: str = "import",
    progress: Callable[[int], None] | None = None,
) -> ReceiveReport:
    report = ReceiveReport()
    batch: list[tuple[int, ReceiptLine]] = []

    async def flush() -> None:
        async with db.write() as session:
            skus = {line.sku for _, line in batch}
            known = set((await session.execute(select(Product.sku).where(Product.sku.in_(skus)))).scalars())
            good = []
            for n, line in batch:
                if line.sku in known:
                    good.append(line)
                else:
                    reason = f"商品编码: 未知SKU {line.sku}（请先用 orderbot catalog import 建档）"
                    report.rejected.append((row_label(n), reason))
            if good:
                result = await receive_lines(session, good, now=now(), actor=actor, source="file")
                for outcome in result.outcomes:
                    if outcome == "received":
                        report.received += 1
                    elif outcome == "due":
                        report.due += 1
                    else:
                        report.unchanged += 1
                report.released += result.released
        if progress:
            progress(len(batch))
        batch.clear()

    for n, raw in records(path, _LOOKUP, {"sku": "商品编码 / sku", "qty": "数量 / qty", "batch": "批次 / batch"}):
        if isinstance(raw, Exception):
            report.rejected.append((row_label(n), str(raw)))
            continue
        try:
            batch.append((n, parse_line(raw, config.timezone)))
        except DomainError as exc:
            report.rejected.append((row_label(n), exc.message))
            continue
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    return report
