"""Signed, expiring links to stored media: `<ORDERBOT_PUBLIC_URL>/charts/<id>.<expiry>.<signature>.png`."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime


class MediaLinks:
    def __init__(self, public_url: str, secret: bytes):
        self.public_url, self._key = (
            public_url.rstrip("/"),
            hmac.new(secret, b"orderbot-media-links", hashlib.sha256).digest(),
        )

    def _sig(self, media_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{media_id}.{expires}".encode(), hashlib.sha256).hexdigest()[:24]

    def url(self, media_id: str, expires: datetime) -> str:
        exp = int(expires.timestamp())
        return f"{self.public_url}/charts/{media_id}.{exp}.{self._sig(media_id, exp)}.png"

    def verify(self, token: str, now: datetime) -> str | None:
        """The media id if the token is authentic and unexpired, else None."""
        parts = token.rsplit(".", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        media_id, exp, sig = parts[0], int(parts[1]), parts[2]
        if not hmac.compare_digest(self._sig(media_id, exp).encode(), sig.encode()):
            return None
        if exp <= now.timestamp():
            return None
        return media_id
