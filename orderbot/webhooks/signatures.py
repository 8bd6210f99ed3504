"""Signature checks for inbound webhooks. Secrets are compared in constant time, never with `==`."""

from __future__ import annotations

import base64
import hashlib
import hmac


def hmac_sha256(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def verify_hex_signature(secret: str, body: bytes, header: str | None, prefix: str = "sha256=") -> bool:
    """`X-Orderbot-Signature: sha256=<hex HMAC-SHA256 of the raw body>`."""
    if not header or not header.startswith(prefix):
        return False
    expected = prefix + hmac_sha256(secret, body).hex()
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def verify_b64_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Shopify (and AfterShip) style: base64 HMAC-SHA256 of the raw body."""
    if not header:
        return False
    expected = base64.b64encode(hmac_sha256(secret, body))
    return hmac.compare_digest(expected, header.strip().encode())
