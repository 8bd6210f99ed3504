"""The sandbox channel: stores what it would send, for the demo page, `orderbot ask` and tests."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .base import Limit


@dataclass
class SandboxSender:
    clock: Any
    channel: str = "sandbox"
    sent: list[dict[str, Any]] = field(default_factory=list)

    def limit_for(self, destination: str) -> Limit | None:
        return None

    async def send(self, destination: str, kind: str, payload: dict[str, Any], progress: dict[str, Any]) -> None:
        at: datetime = self.clock()
        self.sent.append({"destination": destination, "kind": kind, "payload": payload, "at": at.isoformat()})

    def for_destination(self, destination: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["destination"] == destination]
