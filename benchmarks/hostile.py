"""Issue 13's figure: 1,000 hostile requests mixed into 200 req/s of good WeCom callbacks.

The full app runs in its own process (as in `benchmarks.channels`); this process sends good encrypted callbacks
open-loop at 200 req/s for 5 s and, over the same 5 s, 1,000 hostile requests (840 KB bodies nested 120,000 deep
with a wrong signature, chunked ones without a length, deeply nested envelopes around a valid signature, deep
JSON and `1e400` to the signed JSON doors, DingTalk bodies with a captured sign). The figure is the p99 of the
good acknowledgements; the baseline is the same good load without the hostile one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.channels import _free_port, _serve, _messages, _open_loop, _pct, _wait_ready

INGEST, DING = "bench-ingest", "bench-ding"


def _hostile(base: str, n: int) -> list[tuple[str, dict, dict, object]]:
    """(url, query, headers, body) for n hostile requests of several kinds, in a fixed rotation."""
    from orderbot.webhooks.dingtalk import dingtalk_sign

    deep = b"<xml>" + b"<a>" * 120_000 + b"</a>" * 120_000 + b"</xml>"
    ((good_query, good_body),) = _messages(1, "hostile-envelope")
    nested = good_body.replace("</xml>", "<a>" * 8000 + "</a>" * 8000 + "</xml>").encode()
    deep_json = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
    big_number = b'{"order_no": "SO1", "amount": 1e400}'
    wrong = {"msg_signature": "0" * 40, "timestamp": "1700000000", "nonce": "n"}
    ts = str(int(time.time() * 1000))

    def hexsig(body: bytes) -> dict:
        return {"X-Orderbot-Signature": "sha256=" + hmac.new(INGEST.encode(), body, hashlib.sha256).hexdigest()}

    kinds = [
        (f"{base}/wecom/callback", wrong, {}, deep),  # 840 KB, wrong signature
        (f"{base}/wecom/callback", wrong, {}, "chunked"),  # the same without a length
        (f"{base}/wecom/callback", good_query, {}, nested),  # valid signature, 8,000-deep envelope
        (f"{base}/webhooks/orders", {}, hexsig(deep_json), deep_json),
        (f"{base}/webhooks/orders", {}, hexsig(big_number), big_number),
        (
            f"{base}/dingtalk/callback",
            {},
            {"timestamp": ts, "sign": dingtalk_sign(DING, ts)},
            b'{"msgId": "x", "senderStaffId": "nobody", "text": "hi", "createAt": 1e30}',
        ),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


async def _send_hostile(requests: list, seconds: float) -> dict[int, int]:
    statuses: dict[int, int] = {}
    deep = requests[0][3]

    async def chunks():
        for i in range(0, len(deep), 65536):
            yield deep[i : i + 65536]

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as http:  # 8 at a time

        async def one(url, query, headers, body):
            try:
                async with http.post(
                    url, params=query, headers=headers, data=chunks() if body == "chunked" else body
                ) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
            except aiohttp.ClientError:  # refused before the body was sent whole
                statuses[413] = statuses.get(413, 0) + 1

        start = time.perf_counter()
        tasks = []
        for i, req in enumerate(requests):
            delay = start + i * seconds / len(requests) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(*req)))
        await asyncio.gather(*tasks)
    return statuses


async def bench_hostile_mix(rate: float = 200, seconds: float = 5, hostile: int = 1000) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        proc = _serve(
            "full",
            port,
            Path(tmp) / "hostile.db",
            ORDERBOT_INGEST_SECRET=INGEST,
            DINGTALK_APP_KEY="benchkey",
            DINGTALK_APP_SECRET=DING,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            url = f"{base}/wecom/callback"
            await _wait_ready(f"{base}/healthz")
            await _open_loop(url, _messages(200, "warm"), rate)
            calm = await _open_loop(url, _messages(int(rate * seconds), "calm"), rate)
            good, statuses = await asyncio.gather(
                _open_loop(url, _messages(int(rate * seconds), "mixed"), rate),
                _send_hostile(_hostile(base, hostile), seconds),
            )
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    p99, p99_calm = _pct(good, 99), _pct(calm, 99)
    five = sum(n for s, n in statuses.items() if s >= 500)
    return [
        {
            "name": "hostile.good_ack_p99_at_200rps",
            "figure": round(p99, 1),
            "unit": "ms",
            "target": "< 50 ms",
            "baseline": round(p99_calm, 1),
            "ok": p99 < 50 and five == 0,
            "detail": f"{len(good)} good callbacks at {rate:.0f}/s with {hostile} hostile requests over "
            f"{seconds:.0f} s (8 at a time); hostile answers {dict(sorted(statuses.items()))}; "
            f"p50 good {_pct(good, 50):.1f} ms; baseline: the same good load alone",
        }
    ]
