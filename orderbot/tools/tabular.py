"""Reading the files teams migrate from (.csv, .xlsx, .jsonl) into rows keyed by our field names.

Shared by every import (`orderbot import`, `orderbot catalog import`, `orderbot stock receive`): headers may be
English or the usual Chinese column names (each import passes its alias table), every row keeps the number a
person sees in the file, so a bad one is reported as `第 N 行: 字段: 原因` and the rest still load.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

SUFFIXES = (".jsonl", ".csv", ".xlsx")


class ImportFileError(Exception):
    """The file as a whole cannot be read (unknown type, missing header)."""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (row label, reason)

    @property
    def loaded(self) -> int:
        return self.created + self.updated + self.unchanged


def alias_lookup(aliases: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """{alias (lower-cased): field} from {field: (aliases…)}."""
    return {alias.lower(): key for key, names in aliases.items() for alias in names}


def cell(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _keys(header: list[str], lookup: dict[str, str], required: Mapping[str, str]) -> list[str | None]:
    keys = [lookup.get((h or "").strip().lower()) for h in header]
    for key, label in required.items():
        if key not in keys:
            raise ImportFileError(f"表头缺少「{label}」列")
    return keys


def header_fields(path: Path, lookup: dict[str, str]) -> set[str]:
    """The fields a file's header names (a JSONL file: its first object's keys), to tell kinds of file apart."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open(encoding="utf-8-sig") as f:
            for line in f:
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError:
                        return set()
                    return {lookup[k.lower()] for k in obj if isinstance(obj, dict) and k.lower() in lookup}
        return set()
    for _n, row in flat_rows(path, lookup, {}):
        return set(row) if isinstance(row, dict) else set()
    return set()


def flat_rows(path: Path, lookup: dict[str, str], required: Mapping[str, str]) -> Iterator[tuple[int, dict]]:
    """(line number, {field: text}) per non-empty row of a .csv or .xlsx file, headers resolved by `lookup`;
    `required` ({field: label}) are the columns without which the file is refused as a whole."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise ImportFileError("CSV 文件为空或没有表头")
            keys = _keys(header, lookup, required)
            for n, row in enumerate(reader, start=2):
                if any(c.strip() for c in row):
                    yield n, {k: cell(v) for k, v in zip(keys, row) if k}
    elif suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            rows = wb.worksheets[0].iter_rows(values_only=True)
            header = next(rows, None)
            if not header:
                raise ImportFileError("Excel 第一个工作表为空或没有表头")
            keys = _keys([cell(h) or "" for h in header], lookup, required)
            for n, row in enumerate(rows, start=2):
                if any(c not in (None, "") for c in row):
                    yield n, {k: cell(v) for k, v in zip(keys, row) if k}
        finally:
            wb.close()
    else:
        raise ImportFileError(f"不支持的文件类型 {suffix or '(无扩展名)'}：请用 .jsonl、.csv 或 .xlsx")


def jsonl_objects(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed object or the ValueError saying why the line is not JSON) per non-empty line."""
    with path.open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, ValueError(f"不是合法的JSON：{exc.msg}")


def records(path: Path, lookup: dict[str, str], required: Mapping[str, str]) -> Iterator[tuple[int, object]]:
    """One flat record per row of any supported file: (line number, {field: text} or a ValueError). JSONL keys
    go through the same aliases as headers; nested values are kept as text."""
    if path.suffix.lower() != ".jsonl":
        yield from flat_rows(path, lookup, required)
        return
    for n, obj in jsonl_objects(path):
        if isinstance(obj, Exception):
            yield n, obj
        elif not isinstance(obj, dict):
            yield n, ValueError("每行应是一个JSON对象")
        else:
            yield n, {lookup[k.lower()]: cell(v) for k, v in obj.items() if k.lower() in lookup}


def row_label(n: int) -> str:
    return f"第 {n} 行"
