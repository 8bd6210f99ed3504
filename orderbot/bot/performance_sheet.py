"""The performance sheet (直连绩效考核表) as an .xlsx: a summary row per packer, then one sheet per packer
with their days. Pure: figures in, bytes out."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import Workbook

from orderbot.core.warehouse.performance import CORRECTIONS_PER_DAY, INDUSTRY_ACCURACY, PackerMonth

MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _sheet_name(name: str, used: set[str]) -> str:
    base = "".join(c for c in name if c not in "[]:*?/\\")[:28] or "打包员"
    title, n = base, 2
    while title in used:
        title, n = f"{base}{n}", n + 1
    used.add(title)
    return title


def performance_xlsx(month: date, packers: list[PackerMonth]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "绩效汇总"
    ws.append(
        [
            f"直连绩效考核表 {month:%Y年%m月}",
            f"准确率基准 {INDUSTRY_ACCURACY:.0%}",
            f"主动纠错目标 每个出勤日 ≥ {CORRECTIONS_PER_DAY} 次",
        ]
    )
    ws.append(["打包员", "工号", "出勤天数", "扫码", "失败", "准确率", "主动纠错", "纠错目标", "是否达标"])
    for p in packers:
        ws.append(
            [
                p.name,
                p.staff_id,
                p.worked_days,
                p.scans,
                p.failed,
                _pct(p.accuracy),
                p.corrections,
                p.corrections_target,
                "达标" if p.meets else "未达标",
            ]
        )
    used = {ws.title}
    for p in packers:
        sheet = wb.create_sheet(_sheet_name(p.name, used))
        sheet.append(["日期", "扫码", "失败", "准确率", "主动纠错"])
        for d in p.days:
            sheet.append([d.day.isoformat(), d.scans, d.failed, _pct(d.accuracy), d.corrections])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
