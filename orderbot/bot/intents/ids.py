"""Order references and SKUs, found by pattern before any word segmentation.

`\\b` is useless here: Python counts CJK characters as word characters, so "订单SO202602010001到哪了" has no
boundary around the number. Every pattern is anchored with ASCII lookarounds instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Patterns run on normalised (lower-case) text; values are upper-cased on the way out.
_ORDER_NO = re.compile(r"(?<![a-z0-9])so[- ]?(\d{12,}|\d{4}(?: \d{4}){2,})(?![0-9])")
_AMAZON = re.compile(r"(?<![0-9-])(\d{3}-\d{7}-\d{7})(?![0-9-])")
_S10 = re.compile(r"(?<![a-z0-9])([a-z]{2}\d{9}[a-z]{2})(?![a-z0-9])")
# channel order ids that resolve through the channel order id (INTENTS.md "More order references")
_SHOPIFY = re.compile(r"(?<![a-z0-9#])#\s?(\d{3,10})(?![0-9])")  # an order name, #1001
_TIKTOK = re.compile(r"(?<![0-9])(57\d{16})(?![0-9])")  # TikTok Shop: 18 digits starting with 57
_TEMU = re.compile(r"(?<![a-z0-9-])(po-\d{3,}-\d{3,})(?![0-9-])")  # Temu: PO-<digits>-<digits>
_CUSTOMER_ID = re.compile(r"(?<![a-z0-9])(c\d{5,8})(?![a-z0-9])")
# letters/digits in hyphen-joined groups; whether a candidate really is a SKU is decided in `_looks_like_sku`
_SKU = re.compile(r"(?<![a-z0-9-])([a-z0-9]+(?:-[a-z0-9]+)+)(?![a-z0-9-])")
_RANKING = re.compile(r"^(?:top|last|past|next)-\d+$|^\d+-(?:hours?|h|days?|weeks?|mins?|minutes?|months?)$")
_COMPACT = re.compile(r"[\s-]")
_ALNUM_RUN = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Found:
    value: str
    start: int
    end: int


def find_order_refs(text: str) -> list[Found]:
    """SO numbers (12+ digits; a speech transcript may space them in groups), Amazon 3-7-7 ids, UPU S10,
    Shopify order names (#1001), TikTok Shop ids (18 digits from 57), Temu ids (PO-<digits>-<digits>)."""
    found = [Found("SO" + m.group(1).replace(" ", ""), m.start(), m.end()) for m in _ORDER_NO.finditer(text)]
    found += [Found(m.group(1), m.start(), m.end()) for m in _AMAZON.finditer(text)]
    found += [Found(m.group(1).upper(), m.start(), m.end()) for m in _S10.finditer(text)]
    found += [Found("#" + m.group(1), m.start(), m.end()) for m in _SHOPIFY.finditer(text)]
    found += [Found(m.group(1), m.start(), m.end()) for m in _TIKTOK.finditer(text)]
    found += [Found(m.group(1).upper(), m.start(), m.end()) for m in _TEMU.finditer(text)]
    return sorted(found, key=lambda f: f.start)


def find_customer_ids(text: str) -> list[Found]:
    """Customer ids as the master data writes them: C00059."""
    return [Found(m.group(1).upper(), m.start(), m.end()) for m in _CUSTOMER_ID.finditer(text)]


_BATCH = re.compile(
    r"(?:批次|批号|(?<![a-z])(?:batch|lot)(?:\s*(?:no\.?|number|#))?)\s*[:#号]?\s*"
    r"([a-z0-9][a-z0-9-]{1,23})(?![a-z0-9-])"
)


def find_batches(text: str) -> list[Found]:
    """A batch number after its word: 批次B2612, 批号 2612-A, batch B2612, lot no. 7781."""
    return [Found(m.group(1).upper(), m.start(1), m.end(1)) for m in _BATCH.finditer(text)]


def compact_skus(known: Iterable[str]) -> dict[str, str]:
    """Known SKUs by their compact spelling ("pb20kblk" → "PB-20K-BLK"); build once, pass to `find_skus`."""
    return {_COMPACT.sub("", k.lower()): k.upper() for k in known}


def find_skus(text: str, known: Iterable[str] | dict[str, str] = ()) -> list[Found]:
    """Hyphenated codes such as PB-20K-BLK, plus known SKUs written without their hyphens ("pb20kblk")."""
    known_compact = known if isinstance(known, dict) else compact_skus(known)
    found = [
        Found(m.group(1).upper(), m.start(), m.end())
        for m in _SKU.finditer(text)
        if _looks_like_sku(m.group(1), known_compact)
    ]
    if known_compact:
        # a known SKU written without its hyphens is a whole run of letters and digits ("查pb20kblk库存");
        # looking each run up keeps this independent of how many SKUs the company has
        for m in _ALNUM_RUN.finditer(text):
            sku = known_compact.get(m.group(0))
            if sku and m.group(0) != sku.lower() and not _inside(m.start(), found):
                found.append(Found(sku, m.start(), m.end()))
    return sorted(found, key=lambda f: f.start)


def _looks_like_sku(candidate: str, known_compact: dict[str, str]) -> bool:
    if _COMPACT.sub("", candidate) in known_compact:
        return True
    if _RANKING.match(candidate) or re.fullmatch(r"[\d-]+", candidate):
        return False  # "top-3", dates like 2026-02-03, Amazon ids
    # a code has a digit (PB-20K-BLK), or is all short letter groups (EB-TWS-WHT); words like "e-commerce" are not
    if any(c.isdigit() for c in candidate):
        return True
    groups = candidate.split("-")
    return len(groups) >= 3 and all(len(g) <= 4 for g in groups)


def _inside(at: int, found: list[Found]) -> bool:
    return any(f.start <= at < f.end for f in found)


def blank(text: str, spans: Iterable[Found]) -> str:
    """Replace matched spans with spaces so later extractors and the segmenter never see them again."""
    chars = list(text)
    for f in spans:
        chars[f.start : f.end] = " " * (f.end - f.start)
    return "".join(chars)
