"""Dedupe keys that fit their column without losing what makes them different.

Cutting a long key at the column length made two different events with the same first 191 characters one event
(the second lost silently). A key that fits is kept as is, so rows stored before keep matching; a longer one
keeps a readable head and ends in the SHA-256 of the whole key.
"""

from __future__ import annotations

import hashlib

KEY_LENGTH = 191  # inbound_events.key, outbox.dedupe_key, alerts.active_key


def fit_key(key: str, limit: int = KEY_LENGTH) -> str:
    """`key` itself if it fits in `limit` characters, else its head + '#' + hex SHA-256 of the full key."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: limit - len(digest) - 1]}#{digest}"
