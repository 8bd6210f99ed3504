"""Carrier tracking pushes: `POST /webhooks/tracking/{provider}` (work in progress)."""
from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    return None
