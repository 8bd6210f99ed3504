"""QWeather (和风天气) weather alerts over aiohttp: the adapter behind the courier batch's weather port.

Endpoint: `GET {QWEATHER_API_BASE}/weatheralert/v1/current/{lat}/{lon}` (coordinates with two decimals; the older
`/v7/warning/now` is deprecated and stops on 2026-10-01, so it is not used). Authentication: the API KEY in the
`X-QW-Api-Key` request header, one of the two methods QWeather documents (the other is a JWT as
`Authorization: Bearer`; the documentation warns never to send both). The key goes in a header, not the query
string, so it never lands in access logs. The response is gzip-compressed JSON; aiohttp decompresses it.

`metadata.zeroResult: true` means the request succeeded and there is no alert. `metadata.attributions` must be
shown with the data. Every failure (HTTP status other than 200, a wrong key's 401, timeout, connection error,
a body that is not the documented JSON) raises `WeatherUnavailable`, which the batch turns into its
announced fail-safe.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from orderbot.core.courier import WeatherAlert, WeatherReport, WeatherUnavailable

__all__ = ["QWeatherClient", "WeatherAlert", "WeatherReport", "WeatherUnavailable", "from_settings", "parse_alerts"]

DEFAULT_TIMEOUT = 10.0


class QWeatherClient:
    """`alerts(lat, lon)` → `WeatherReport`; `http` is the app's shared client session (or a test's)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base: str,
        api_key: str,
        timeout: float = DEFAULT_TIMEOUT,
        lang: str = "zh",
    ):
        self.http, self.base, self._key = http, base.rstrip("/"), api_key
        self.timeout, self.lang = aiohttp.ClientTimeout(total=timeout), lang

    def __repr__(self) -> str:  # never show the key
        return f"QWeatherClient(base={self.base!r})"

    async def alerts(self, lat: float, lon: float) -> WeatherReport:
        url = f"{self.base}/weatheralert/v1/current/{lat:.2f}/{lon:.2f}"
        try:
            async with self.http.get(
                url,
                params={"lang": self.lang, "localTime": "true"},
                timeout=self.timeout,
                headers={"X-QW-Api-Key": self._key, "Accept-Encoding": "gzip"},
            ) as resp:
                body = await resp.read()
                status = resp.status
        except TimeoutError as exc:
            raise WeatherUnavailable(f"和风天气接口超时（{self.timeout.total:g} 秒）") from exc
        except aiohttp.ClientError as exc:
            raise WeatherUnavailable(f"连不上和风天气接口（{type(exc).__name__}）") from exc
        if status != 200:
            raise WeatherUnavailable(_http_error(status, body), status=status)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise WeatherUnavailable("和风天气返回的不是 JSON", status=status) from exc
        return parse_alerts(data)


def _http_error(status: int, body: bytes) -> str:
    """A short reason; QWeather's error code v2 body is `{"error": {"status", "type", "title", "detail"}}`."""
    title = ""
    try:
        error = json.loads(body).get("error") or {}
        title = str(error.get("title") or error.get("detail") or "")[:80]
    except (ValueError, AttributeError):
        pass
    if status == 401:
        return "和风天气认证失败（HTTP 401），请检查 QWEATHER_API_KEY"
    if status in (402, 403):
        return f"和风天气拒绝访问（HTTP {status}{'，' + title if title else ''}），请检查账号额度或权限"
    if status == 429:
        return "和风天气请求过多（HTTP 429）"
    return f"和风天气接口出错（HTTP {status}{'，' + title if title else ''}）"


def parse_alerts(data: Any) -> WeatherReport:
    """The v1 response as a `WeatherReport`; anything that is not the documented shape raises
    `WeatherUnavailable` (a malformed answer must not read as "no alert")."""
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        raise WeatherUnavailable("和风天气返回的数据缺少 metadata")
    meta = data["metadata"]
    attributions = tuple(str(a) for a in meta.get("attributions") or ())
    raw = data.get("alerts")
    if meta.get("zeroResult") is True:
        return WeatherReport((), attributions)
    if not isinstance(raw, list):
        raise WeatherUnavailable("和风天气返回的数据缺少 alerts")
    try:
        alerts = tuple(_alert(a) for a in raw)
    except (KeyError, TypeError, AttributeError) as exc:
        raise WeatherUnavailable(f"和风天气返回的预警格式不对（{type(exc).__name__}: {exc}）") from exc
    return WeatherReport(alerts, attributions)


def _alert(a: dict) -> WeatherAlert:
    kind = a.get("messageType") or {}
    event = a.get("eventType") or {}
    color = a.get("color") or {}
    return WeatherAlert(
        id=str(a["id"]),
        message_type=str(kind.get("code") or "alert").lower(),
        supersedes=tuple(str(x) for x in kind.get("supersedes") or ()),
        color=str(color.get("code") or "").lower(),
        severity=str(a.get("severity") or "").lower(),
        title=str(a.get("headline") or event.get("name") or "天气预警"),
        event=str(event.get("name") or ""),
        sender=a.get("senderName"),
        issued=a.get("issuedTime"),
        expires=a.get("expireTime") or a.get("expiredTime"),
        description=str(a.get("description") or ""),
    )


def from_settings(settings, http: aiohttp.ClientSession, *, timeout: float = DEFAULT_TIMEOUT) -> QWeatherClient | None:
    """The client for the configured key, or None when `QWEATHER_API_KEY` is unset (the batch then takes its
    announced fail-safe)."""
    if settings.qweather_api_key is None:
        return None
    return QWeatherClient(
        http, base=settings.qweather_api_base, api_key=settings.qweather_api_key.get_secret_value(), timeout=timeout
    )


class DemoWeather:
    """The sandbox's weather (`orderbot demo`, no key, no network): calm unless the page raises an alert.
    `raise_alert` / `clear` let the demo show a red-alert pause and its resume."""

    ATTRIBUTION = "演示天气（未接入和风天气）"

    def __init__(self) -> None:
        self._alerts: dict[str, WeatherAlert] = {}

    def raise_alert(self, color: str = "red", title: str = "暴雪红色预警") -> None:
        alert_id = f"demo-{len(self._alerts) + 1}"
        self._alerts = {
            alert_id: WeatherAlert(
                id=alert_id,
                message_type="alert",
                color=color,
                severity="extreme",
                title=title,
                event=title,
                sender="演示气象台",
            )
        }

    def clear(self) -> None:
        self._alerts = {}

    async def alerts(self, lat: float, lon: float) -> WeatherReport:
        return WeatherReport(tuple(self._alerts.values()), (self.ATTRIBUTION,))
