"""Sales channels: canonical codes, display names and the names people write for them (INTENTS.md)."""

from __future__ import annotations

CHANNELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "amazon": ("亚马逊", ("亚马逊", "amazon", "amz")),
    "shopify": ("独立站", ("shopify", "独立站")),
    "tiktok": ("TikTok Shop", ("tiktok", "tiktok shop", "tiktokshop", "抖音跨境", "抖音")),
    "aliexpress": ("速卖通", ("速卖通", "aliexpress", "ali express")),
    "temu": ("Temu", ("temu",)),
    "ebay": ("eBay", ("ebay", "易贝")),
}
CHANNEL_ALIASES: dict[str, str] = {alias: code for code, (_, aliases) in CHANNELS.items() for alias in aliases}


def normalise_channel(name: str) -> str:
    """'亚马逊' → 'amazon', 'TikTok Shop' → 'tiktok'; an unknown channel keeps its own lower-cased code."""
    key = name.strip().lower()
    return CHANNEL_ALIASES.get(key, key)


def channel_name(code: str) -> str:
    return CHANNELS.get(code, (code, ()))[0]
