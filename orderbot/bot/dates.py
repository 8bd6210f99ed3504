"""Dates as replies write them."""

from __future__ import annotations

from datetime import date


def cn_date(d: date | None) -> str:
    """3月5日; "—" for no date."""
    return f"{d.month}月{d.day}日" if d else "—"
