"""courier actions (work in progress)."""
from __future__ import annotations

ROUTES: list = []
