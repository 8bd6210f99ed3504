"""QR package labels: `OB1|<order_no>|<sku>|<batch_no>|<package_no>|<check>` (CONTRACT.md).

`check` is the first 8 hex digits of HMAC-SHA256(ORDERBOT_LABEL_SECRET, everything before the last '|'), so a
label names exactly one parcel and cannot be typed up by hand. WeCom's scanner may prefix the text with the
symbology ('QR_CODE,'); that prefix is dropped before parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from orderbot.core.errors import DomainError

PREFIX = "OB1"
_SYMBOLOGY = re.compile(r"^[A-Z][A-Z0-9_]*,")


class LabelUnreadable(DomainError):
    """Not one of our labels at all (wrong prefix, wrong number of fields, garbled)."""


class LabelCheckFailed(DomainError):
    """Our format, but the check code does not match: a damaged, mistyped or forged label."""


@dataclass(frozen=True)
class Label:
    order_no: str
    sku: str
    batch_no: str
    package_no: int
    check: str

    @property
    def fields(self) -> dict[str, str]:
        return {
            "订单号": self.order_no,
            "SKU": self.sku,
            "批次": self.batch_no,
            "包裹号": str(self.package_no),
            "校验码": self.check,
        }


def check_code(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:8]


def label_text(secret: str, order_no: str, sku: str, batch_no: str, package_no: int) -> str:
    body = f"{PREFIX}|{order_no}|{sku}|{batch_no}|{package_no}"
    return f"{body}|{check_code(secret, body)}"


def split_label(raw: str) -> list[str] | None:
    """The label's fields if it has our shape, whatever its check code says; None if it does not."""
    text = raw.strip()
    if _SYMBOLOGY.match(text) and not text.startswith(PREFIX + "|"):
        text = text.split(",", 1)[1].strip()
    parts = text.split("|")
    if len(parts) != 6 or parts[0] != PREFIX or not parts[4].isdigit():
        return None
    return parts


def parse_label(raw: str, secret: str) -> Label:
    parts = split_label(raw)
    if parts is None:
        raise LabelUnreadable("无法识别的标签", raw=raw)
    _, order_no, sku, batch, package_no, check = parts
    expected = check_code(secret, "|".join(parts[:5]))
    if not hmac.compare_digest(expected, check.lower()):
        raise LabelCheckFailed("标签校验码不符", raw=raw)
    return Label(order_no, sku, batch, int(package_no), check.lower())
