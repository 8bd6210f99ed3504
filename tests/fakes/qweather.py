"""A local fake of QWeather's weather alert API (`/weatheralert/v1/current/{lat}/{lon}`) that speaks its format.

It checks the `X-QW-Api-Key` header (a wrong or missing key gets 401 with an error code v2 body), answers
`metadata.zeroResult: true` with no alerts where nothing is set, or the alerts set for the coordinates
(`alert`, `update` and `cancel` messages with `messageType.supersedes`), gzip-compressed when asked, with the
attributions the real API sends. `mode` = "error" answers 500, "hang" sleeps past any sane client timeout,
"garbage" answers 200 with a body that is not JSON.
"""

from __future__ import annotations

import asyncio
import itertools

from aiohttp import web

ATTRIBUTIONS = [
    "https://developer.qweather.com/attribution.html",
    "当前预警数据可能存在延迟或信息过时，以官方数据发布为准。",
]
COLORS = {"red": (255, 0, 0), "orange": (255, 165, 0), "yellow": (255, 255, 0), "blue": (30, 50, 205)}


class FakeQWeather:
    def __init__(self, key: str = "qw-test-key"):
        self.key = key
        self.mode = "ok"  # ok | error | hang | garbage
        self.hang_seconds = 5.0
        self.alerts: dict[tuple[str, str], list[dict]] = {}  # ("22.54", "114.06") → alerts
        self.requests: list[dict] = []
        self._ids = itertools.count(202602100001)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/weatheralert/v1/current/{lat}/{lon}", self.current)
        return app

    # ---- scenario builders ---------------------------------------------------------------------------------
    def alert(
        self,
        lat: float,
        lon: float,
        *,
        color: str = "red",
        event: str = "暴雪",
        code: str = "alert",
        supersedes: tuple[str, ...] = (),
        severity: str = "extreme",
    ) -> dict:
        """Add one alert message for the coordinates and return it (its `id` is what a later message supersedes)."""
        red, green, blue = COLORS.get(color, (0, 0, 0))
        cn = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}.get(color, color)
        item = {
            "id": str(next(self._ids)),
            "senderName": "深圳市气象台",
            "issuedTime": "2026-02-10T08:30+08:00",
            "messageType": {"code": code, "supersedes": list(supersedes)},
            "eventType": {"name": event, "code": "1003"},
            "urgency": "immediate",
            "severity": severity,
            "certainty": "likely",
            "icon": "1003",
            "color": {"code": color, "red": red, "green": green, "blue": blue, "alpha": 1},
            "effectiveTime": "2026-02-10T08:30+08:00",
            "onsetTime": "2026-02-10T08:30+08:00",
            "expireTime": "2026-02-11T08:30+08:00",
            "headline": f"深圳市气象台发布{event}{cn}预警" if code != "cancel" else f"深圳市气象台解除{event}预警",
            "description": f"预计未来12小时内将出现{event}天气，请注意防范，干线运输可能中断。",
            "criteria": "",
        }
        self.alerts.setdefault(_key(lat, lon), []).append(item)
        return item

    def cancel(self, lat: float, lon: float, alert: dict) -> dict:
        """The authority lifts an alert: a `cancel` message superseding it replaces what the API returns."""
        self.alerts[_key(lat, lon)] = []
        return self.alert(
            lat,
            lon,
            color=alert["color"]["code"],
            event=alert["eventType"]["name"],
            code="cancel",
            supersedes=(alert["id"],),
            severity=alert["severity"],
        )

    def clear(self, lat: float, lon: float) -> None:
        self.alerts.pop(_key(lat, lon), None)

    # ---- the API ---------------------------------------------------------------------------------------------
    async def current(self, request: web.Request) -> web.StreamResponse:
        lat, lon = request.match_info["lat"], request.match_info["lon"]
        self.requests.append(
            {
                "lat": lat,
                "lon": lon,
                "key": request.headers.get("X-QW-Api-Key"),
                "authorization": request.headers.get("Authorization"),
                "query": dict(request.query),
            }
        )
        if request.headers.get("X-QW-Api-Key") != self.key:
            return web.json_response(
                {
                    "error": {
                        "status": 401,
                        "type": "https://dev.qweather.com/docs/resource/error-code/#unauthorized",
                        "title": "Unauthorized",
                        "detail": "Authentication failed",
                    }
                },
                status=401,
                content_type="application/problem+json",
            )
        if self.mode == "hang":
            await asyncio.sleep(self.hang_seconds)
        if self.mode == "error":
            return web.json_response(
                {"error": {"status": 500, "title": "Internal Server Error", "detail": "upstream failure"}}, status=500
            )
        if self.mode == "garbage":
            return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
        alerts = self.alerts.get((lat, lon), [])
        body = {
            "metadata": {
                "tag": f"tag-{lat}-{lon}-{len(alerts)}",
                "zeroResult": not alerts,
                "attributions": ATTRIBUTIONS,
            },
            "alerts": alerts,
        }
        response = web.json_response(body)
        response.enable_compression()  # gzip when the client accepts it, as the real API does
        return response


def _key(lat: float, lon: float) -> tuple[str, str]:
    return f"{lat:.2f}", f"{lon:.2f}"
