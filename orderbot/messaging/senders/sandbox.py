"""The sandbox channel: keeps what it would send, for the demo page, `orderbot ask` and tests.

Messages live in memory in one bounded, numbered log (oldest dropped first). Besides what the outbox worker sends
(`send`), the sandbox page records what people typed, scanned and clicked (`record_inbound`) and what the demo's
fake WeCom received from the AI bot (`record`), so every browser tab shows the same conversations; `since(n)` is
what the page polls.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderbot.messaging.senders.base import Limit

KEEP = 2000


@dataclass
class SandboxSender:
    clock: Any
    channel: str = "sandbox"
    keep: int = KEEP
    log: deque[dict[str, Any]] = field(init=False)
    last_id: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.log = deque(maxlen=self.keep)

    def limit_for(self, destination: str) -> Limit | None:
        return None

    async def send(self, destination: str, kind: str, payload: dict[str, Any], progress: dict[str, Any]) -> None:
        self._add({"direction": "out", "destination": destination, "kind": kind, "payload": payload})

    def record_inbound(self, destination: str, sender: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """What a person sent into the conversation `destination` (`user:<id>` or `group:<key>`)."""
        return self._add(
            {"direction": "in", "destination": destination, "sender": sender, "kind": kind, "payload": body}
        )

    def record(self, destination: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """What another platform delivered into a sandbox conversation (the demo's fake WeCom records the AI bot's
        answers and the group webhook's messages here, `kind="aibot"`)."""
        return self._add({"direction": "out", "destination": destination, "kind": kind, "payload": payload})

    def _add(self, item: dict[str, Any]) -> dict[str, Any]:
        at: datetime = self.clock()
        self.last_id += 1
        item = {"id": self.last_id, **item, "at": at.isoformat()}
        self.log.append(item)
        return item

    @property
    def sent(self) -> list[dict[str, Any]]:
        """What the outbox delivered, oldest first."""
        return [m for m in self.log if m["direction"] == "out"]

    def for_destination(self, destination: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["destination"] == destination]

    def since(self, after: int, limit: int = 500) -> list[dict[str, Any]]:
        """Log entries with an id above `after`, oldest first, at most `limit` (the newest ones if more)."""
        out = [m for m in self.log if m["id"] > after]
        return out[-limit:]

    def get(self, item_id: int) -> dict[str, Any] | None:
        for m in reversed(self.log):
            if m["id"] == item_id:
                return m
        return None
