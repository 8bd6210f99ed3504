"""The sender contract every channel implements, its typed errors, and the per-destination rate limiter."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp

# Each HTTP call to a platform: a hung platform costs a send this long at most (the worker also bounds a whole
# send, several calls, by its own timeout).
CALL_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)


class SendError(Exception):
    """A failed send. `retry_after` (seconds) overrides the back-off; `permanent` means never retry;
    `alert` means a person must act on the configuration (e.g. WeCom 60020, IP not trusted)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
        alert: bool = False,
    ):
        super().__init__(message)
        self.code, self.retry_after, self.permanent, self.alert = code, retry_after, permanent, alert


async def request_json(http, method: str, url: str, *, what: str, **kwargs) -> tuple[int, dict[str, Any]]:
    """One call to a platform: (HTTP status, JSON object; {} for an empty body). Connection problems, timeouts,
    HTTP 5xx and bodies that are not a JSON object are the platform's trouble, never the message's: they raise a
    transient `SendError` (so the worker retries instead of declaring the message malformed)."""
    try:
        async with http.request(method, url, timeout=CALL_TIMEOUT, **kwargs) as resp:
            status = resp.status
            raw = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SendError(f"连接{what}失败：{type(exc).__name__}") from exc
    if status >= 500:
        raise SendError(f"{what} HTTP {status}")
    if not raw.strip():
        return status, {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SendError(f"{what}返回了无法解析的内容（HTTP {status}）")
    return status, data


@dataclass(frozen=True)
class Limit:
    count: int
    per_seconds: float


class Sender(Protocol):
    """Sends one outbox message. `progress` persists between attempts (parts already delivered); the returned
    note, if any, is kept on the sent row (e.g. 'fell back to email')."""

    channel: str

    def limit_for(self, destination: str) -> Limit | None: ...

    async def send(
        self, destination: str, kind: str, payload: dict[str, Any], progress: dict[str, Any]
    ) -> str | None: ...


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

    def forget(self, key: tuple[str, str]) -> None:
        """Take back the latest recorded send (the platform refused it, so it did not count)."""
        window = self._sent.get(key)
        if window:
            window.pop()

    def penalise(self, key: tuple[str, str], limit: Limit | None, until: datetime) -> None:
        """After a platform's rate error, treat the window as full until `until`."""
        if limit is None:
            return
        self._sent[key] = deque([until - timedelta(seconds=limit.per_seconds)] * limit.count)


class TokenCache:
    """One access token per app, shared by every sender, refreshed single-flight before it expires."""

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, int]]], *, margin: float = 300.0):
        self._fetch, self._margin = fetch, margin
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self) -> str:
        if self._token and time.monotonic() < self._expires - self._margin:
            return self._token
        async with self._lock:  # single flight: concurrent callers wait for one fetch
            if self._token and time.monotonic() < self._expires - self._margin:
                return self._token
            token, expires_in = await self._fetch()
            self.fetches += 1
            self._token, self._expires = token, time.monotonic() + expires_in
            return token

    def invalidate(self, token: str) -> None:
        if self._token == token:  # only the token that failed; a fresher one stays
            self._token = None
