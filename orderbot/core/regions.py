"""Provinces and the seven sales regions (INTENTS.md), with tolerant province name normalisation."""

from __future__ import annotations

REGIONS: dict[str, tuple[str, ...]] = {
    "华东": ("上海", "江苏", "浙江", "安徽", "福建", "江西", "山东"),
    "华南": ("广东", "广西", "海南"),
    "华北": ("北京", "天津", "河北", "山西", "内蒙古"),
    "华中": ("河南", "湖北", "湖南"),
    "西南": ("重庆", "四川", "贵州", "云南", "西藏"),
    "西北": ("陕西", "甘肃", "青海", "宁夏", "新疆"),
    "东北": ("辽宁", "吉林", "黑龙江"),
}
PROVINCE_REGION: dict[str, str] = {p: r for r, ps in REGIONS.items() for p in ps}
_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区", "省", "市")


def normalise_province(name: str | None) -> str | None:
    """'浙江省' → '浙江', '广西壮族自治区' → '广西'; unknown names come back stripped, not guessed."""
    if not name:
        return None
    n = name.strip()
    for suffix in _SUFFIXES:
        if n.endswith(suffix) and n[: -len(suffix)] in PROVINCE_REGION:
            return n[: -len(suffix)]
    return n


def region_of(province: str | None) -> str | None:
    p = normalise_province(province)
    return PROVINCE_REGION.get(p) if p else None
