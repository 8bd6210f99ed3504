"""The sender contract every channel implements, its typed errors, and the per-destination rate limiter."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol


class SendError(Exception):
    """A failed send. `retry_after` (seconds) overrides the back-off; `permanent` means never retry;
    `alert` means a person must act on the configuration (e.g. WeCom 60020, IP not trusted)."""

    def __init__(self, message: str, *, code: int | None = None, retry_after: float | None = None,
                 permanent: bool = False, alert: bool = False):
        super().__init__(message)
        self.code, self.retry_after, self.permanent, self.alert = code, retry_after, permanent, alert


@dataclass(frozen=True)
class Limit:
    count: int
    per_seconds: float


class Sender(Protocol):
    """Sends one outbox message. `progress` persists between attempts (parts already delivered)."""

    channel: str

    def limit_for(self, destination: str) -> Limit | None: ...

    async def send(self, destination: str, kind: str, payload: dict[str, Any], progress: dict[str, Any]) -> None: ...


class RateLimiter:
    """Sliding-window limits per (channel, destination): at most `count` sends in any `per_seconds` window."""

    def __init__(self) -> None:
        self._sent: dict[tuple[str, str], deque[datetime]] = {}

    def next_free(self, key: tuple[str, str], limit: Limit | None, now: datetime) -> datetime | None:
        """None if a send may go now; otherwise the earliest time one may."""
        if limit is None:
            return None
        window = self._sent.get(key)
        if not window:
            return None
        horizon = now - timedelta(seconds=limit.per_seconds)
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) < limit.count:
            return None
        return window[0] + timedelta(seconds=limit.per_seconds)

    def record(self, key: tuple[str, str], now: datetime) -> None:
        self._sent.setdefault(key, deque()).append(now)

    def penalise(self, key: tuple[str, str], limit: Limit | None, until: datetime) -> None:
        """After a platform's rate error, treat the window as full until `until`."""
        if limit is None:
            return
        self._sent[key] = deque([until - timedelta(seconds=limit.per_seconds)] * limit.count)
