"""Delay cause categories: the one list every delay record, report and contract clause refers to."""

from __future__ import annotations

CAUSES: dict[str, str] = {
    "customs_inspection": "海关查验",
    "port_congestion": "港口拥堵/罢工",
    "weather": "天气",
    "address": "地址问题",
    "carrier_capacity": "运力不足",
    "lost_damaged": "丢失/破损",
    "other": "其他",
}
