"""Issue 13: every door against a hostile sender, over real HTTP, on SQLite and PostgreSQL.

Property-based (hypothesis) over each door's JSON/XML shapes, sizes and types: whatever arrives, validly signed
or not, the answer is never a 5xx and comes within 200 ms; a body that cannot be the door's message is a 4xx.
The server runs in its own thread and event loop (hypothesis drives plain functions), on the test's database.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, UTC

import pytest
import requests
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import WeChatCrypto

from orderbot.app import create_app
from orderbot.db.engine import Database
from orderbot.webhooks.dingtalk import dingtalk_sign
from orderbot.webhooks.wecom import seal, signature

from tests.conftest import pg_engine
from tests.e2e.test_dingtalk import message as ding_message, with_dingtalk_staff
from tests.e2e.test_webhooks_orders import SHOPIFY_ORDER
from tests.helpers import no_reply, order_json, wecom_settings

pytestmark = pytest.mark.slow

INGEST, SHOPIFY, TRACKING, DING = "ingest-h", "shopify-h", "tracking-h", "ding-h"
TOKEN, AES_KEY, CORP = "hosttoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wwhostile"
QUICK = 0.2  # seconds: every answer, good or bad
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class LiveServer:
    """The whole app on a free port, in a thread with its own loop and its own connections to the database."""

    def __init__(self, url: str, connect_args: dict, config):
        self.url, self.connect_args, self.config = url, connect_args, config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(60)
        self.http = requests.Session()
        return self

    async def _start(self) -> None:
        self.db = (
            Database.from_url(self.url)
            if self.url.startswith("sqlite")
            else Database(pg_engine(self.url, self.connect_args))
        )
        settings_ = wecom_settings(
            TOKEN,
            AES_KEY,
            CORP,
            ORDERBOT_INGEST_SECRET=INGEST,
            SHOPIFY_WEBHOOK_SECRET=SHOPIFY,
            TRACKING_WEBHOOK_SECRET=TRACKING,
            DINGTALK_APP_KEY="dingkey",
            DINGTALK_APP_SECRET=DING,
        )
        app = create_app(settings_, config=self.config, db=self.db, handler=no_reply, run_worker=False)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        self.http.close()

        async def stop():
            await self.runner.cleanup()
            await self.db.dispose()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def post(self, path: str, body: bytes, headers: dict | None = None, params: dict | None = None):
        """POST and time it; a slow answer is tried once more (a scheduler hiccup on a shared machine is not a
        slow door), and the status and the faster time are returned."""
        best, status = None, None
        for _ in range(2):
            t = time.perf_counter()
            resp = self.http.post(self.base + path, data=body, headers=headers or {}, params=params, timeout=10)
            elapsed = time.perf_counter() - t
            status, best = resp.status_code, elapsed if best is None else min(best, elapsed)
            if best < QUICK:
                break
        return status, best


@pytest.fixture
def live(db_url_info, config):
    url, connect_args = db_url_info
    with LiveServer(url, connect_args, with_dingtalk_staff(config)) as server:
        yield server


# --- strategies ------------------------------------------------------------------------------------------------
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300)
    | st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "1e20", "x" * 5000, "<@all>", "[a](http://x)", ""])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
NOT_AN_OBJECT = st.one_of(SCALARS, st.lists(JSON, max_size=3))


def _paths(value, prefix=()):
    """Every (path) inside a JSON value, for replacing one field anywhere with something hostile."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _replace(value, path, new):
    if not path:
        return new
    out = copy.deepcopy(value)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


HOSTILE_VALUES = st.sampled_from(
    [
        "1e400",
        "1e20",
        1e20,
        1e30,
        -1,
        0,
        "x" * 200,
        "x" * 5000,
        "abc",
        {},
        [],
        "hi",
        True,
        None,
        "<@all>",
        "[领取退款](http://evil.example)",
        10**25,
    ]
)


def mutated(valid: dict):
    """The valid body with one field anywhere replaced: half the time by a known troublemaker, else anything."""
    paths = list(_paths(valid))[1:]
    return st.tuples(st.sampled_from(paths), st.one_of(HOSTILE_VALUES, JSON)).map(
        lambda pv: _replace(valid, pv[0], pv[1])
    )


def _raw(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _hex(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _b64(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


AFTERSHIP = {
    "event": "tracking_update",
    "event_id": "e-1",
    "ts": 1770000000,
    "msg": {
        "tracking_number": "1Z999AA10123456784",
        "tag": "InTransit",
        "subtag": "InTransit_001",
        "checkpoints": [{"checkpoint_time": "2026-02-10T09:00:00+08:00", "message": "到达", "location": "LA"}],
    },
}
DOORS = {  # door → (path, valid body, headers for a body)
    "orders": ("/webhooks/orders", order_json(), lambda b: {"X-Orderbot-Signature": _hex(b, INGEST)}),
    "shopify": (
        "/webhooks/shopify",
        SHOPIFY_ORDER,
        lambda b: {"X-Shopify-Hmac-Sha256": _b64(b, SHOPIFY), "X-Shopify-Topic": "orders/create"},
    ),
    "aftership": ("/webhooks/tracking/aftership", AFTERSHIP, lambda b: {"aftership-hmac-sha256": _b64(b, TRACKING)}),
    "generic": (
        "/webhooks/tracking/generic",
        {"event_id": "g-1", "tracking_no": "YT1", "status": "InTransit", "at": "2026-02-10T09:00:00+08:00"},
        lambda b: {"X-Orderbot-Signature": _hex(b, TRACKING)},
    ),
    "dingtalk": ("/dingtalk/callback", None, None),  # filled per call: its sign covers the current time
}


def _ding_headers(_body: bytes) -> dict:
    ts = str(int(time.time() * 1000))
    return {"timestamp": ts, "sign": dingtalk_sign(DING, ts), "Content-Type": "application/json"}


def _door(name: str):
    if name == "dingtalk":
        body = ding_message("hyp", clock=lambda: datetime.now(UTC))
        return "/dingtalk/callback", body, _ding_headers
    return DOORS[name]


# --- the properties --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("door", ["orders", "shopify", "aftership", "generic", "dingtalk"])
def test_a_validly_signed_body_with_any_field_replaced_never_gets_a_5xx(live, door):
    path, valid, headers = _door(door)

    @EXAMPLES
    @given(mutated(valid))
    def check(body):
        raw = _raw(body)
        status, elapsed = live.post(path, raw, headers(raw))
        assert status < 500, (status, body)
        assert elapsed < QUICK, (elapsed, body)

    check()


@pytest.mark.parametrize("door", ["orders", "shopify", "aftership", "generic", "dingtalk"])
def test_a_validly_signed_body_that_is_not_an_object_is_a_4xx(live, door):
    path, _, headers = _door(door)

    @EXAMPLES
    @given(NOT_AN_OBJECT)
    def check(body):
        raw = _raw(body)
        status, elapsed = live.post(path, raw, headers(raw))
        assert 400 <= status < 500, (status, body)
        assert elapsed < QUICK

    check()


@pytest.mark.parametrize("door", ["orders", "shopify", "aftership", "generic", "dingtalk"])
@pytest.mark.parametrize(
    "body",
    [
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,  # RecursionError in json, once
        b"[" * 30_000 + b"]" * 30_000,
        b'{"amount": 1e400, "order_no": "SO1"}',
        b'{"ts": NaN}',
        b"\xff\xfe not utf-8",
        b'{"x": "' + b"9" * 5000 + b'"}',
        b'{"n": ' + b"9" * 5000 + b"}",  # past Python's integer digit limit
    ],
)
def test_deep_huge_and_undecodable_json_is_a_4xx_on_every_door(live, door, body):
    path, _, headers = _door(door)
    status, elapsed = live.post(path, body, headers(body))
    assert 400 <= status < 500 and elapsed < QUICK, (status, elapsed)


XML_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200)
XML_TAG = st.sampled_from(
    [
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Content",
        "MsgId",
        "Event",
        "EventKey",
        "ScanCodeInfo",
        "ScanResult",
        "SelectedItems",
        "SelectedItem",
        "OptionId",
        "TaskId",
        "x",
    ]
)
XML_NODE = st.recursive(
    XML_TEXT.map(lambda t: t.replace("]]>", "")).map(lambda t: f"<![CDATA[{t}]]>"),
    lambda inner: st.tuples(XML_TAG, st.lists(inner, max_size=4)).map(
        lambda tc: f"<{tc[0]}>{''.join(tc[1])}</{tc[0]}>"
    ),
    max_leaves=20,
)


def test_any_decrypted_wecom_message_is_answered_quickly_and_never_5xx(live):
    """Validly encrypted and signed: the plaintext is anything XML-shaped (or not XML at all)."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
    n = iter(range(10**6))

    @EXAMPLES
    @given(
        st.one_of(
            st.lists(XML_NODE, max_size=6).map(lambda c: f"<xml>{''.join(c)}</xml>"),
            XML_TEXT,
            st.integers(1, 3000).map(lambda d: "<xml>" + "<x>" * d + "</x>" * d + "</xml>"),
        )
    )
    def check(plain):
        query, body = seal(crypto, TOKEN, CORP, plain, nonce=f"n{next(n)}", timestamp="1770000000")
        status, elapsed = live.post("/wecom/callback", body.encode(), params=query)
        assert status < 500 and elapsed < QUICK, (status, elapsed, plain[:200])

    check()


def test_any_wecom_envelope_with_a_wrong_signature_is_a_4xx(live):
    query = {"msg_signature": "0" * 40, "timestamp": "1770000000", "nonce": "n"}

    @EXAMPLES
    @given(
        st.one_of(
            XML_NODE.map(lambda x: f"<xml>{x}</xml>"),
            st.binary(max_size=2000),
            st.integers(1, 20_000).map(lambda d: "<xml>" + "<a>" * d + "</a>" * d + "</xml>"),
        )
    )
    def check(body):
        raw = body if isinstance(body, bytes) else body.encode()
        status, elapsed = live.post("/wecom/callback", raw, params=query)
        assert 400 <= status < 500 and elapsed < QUICK, (status, elapsed)

    check()


def test_a_signed_envelope_nested_too_deep_is_refused_before_parsing(live):
    """Signature right (it covers only Encrypt) but the envelope around it nests 8,000 deep: 400, quickly."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
    query, body = seal(crypto, TOKEN, CORP, "<xml><MsgType>text</MsgType></xml>", nonce="n1", timestamp="1770000000")
    deep = body.replace("</xml>", "<a>" * 8_000 + "</a>" * 8_000 + "</xml>")
    assert len(deep) < 64 * 1024  # under the body cap: it is the depth guard that refuses it
    encrypted = body.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    assert query["msg_signature"] == signature(TOKEN, query["timestamp"], query["nonce"], encrypted)
    status, elapsed = live.post("/wecom/callback", deep.encode(), params=query)
    assert status == 400 and elapsed < QUICK


# --- the reproductions of issue 13 (items 6 and 7), each a regression test ----------------------------------
def _order(**over):
    data = order_json("SO202602010042")
    for dotted, value in over.items():
        *head, last = dotted.split(".")
        target = data
        for key in head:
            target = target[key]
        target[last] = value
    return data


def _shopify(**over):
    return {**SHOPIFY_ORDER, **over}


REPRODUCTIONS = [
    ("orders", _order(tracking_no="T" * 40), "tracking_no"),
    ("orders", _order(**{"customer.email": "a" * 120 + "@example.com"}), "customer.email"),
    ("orders", _order(**{"customer.province": "浙江省杭州市西湖区某某街道某某社区某某小区"}), "customer.province"),
    ("orders", _order(**{"customer.name": "名" * 200}), "customer.name"),
    ("orders", _order(channel_order_id="#" * 65), "channel_order_id"),
    ("orders", _order(amount="1e400"), "amount"),
    ("orders", _order(amount="1e20"), "amount"),
    ("orders", _order(lines=[{"sku": "PB-20K-BLK", "qty": 10**25}]), "lines"),
    ("shopify", _shopify(customer="a string"), "customer"),
    ("shopify", _shopify(shipping_address="a string"), "shipping_address"),
    ("shopify", _shopify(line_items="a string"), "line_items"),
    ("shopify", _shopify(line_items=["a string"]), "line_items.0"),
    (
        "shopify",
        _shopify(line_items=[{**SHOPIFY_ORDER["line_items"][0], "quantity": "many", "current_quantity": None}]),
        "line_items.0.quantity",
    ),
    ("aftership", {**AFTERSHIP, "ts": 1e20, "msg": {**AFTERSHIP["msg"], "checkpoints": []}}, "ts"),
    ("aftership", {**AFTERSHIP, "msg": {**AFTERSHIP["msg"], "tracking_number": "T" * 40}}, "tracking_number"),
    ("aftership", {**AFTERSHIP, "msg": {**AFTERSHIP["msg"], "tag": "T" * 60}}, "状态"),
    (
        "generic",
        {"event_id": "g-2", "tracking_no": "T" * 40, "status": "InTransit", "at": "2026-02-10T09:00:00+08:00"},
        "tracking_no",
    ),
    ("dingtalk", {"text": "hi"}, "text"),
    ("dingtalk", {"createAt": 1e30}, "createAt"),
    ("dingtalk", {"sessionWebhookExpiredTime": "abc"}, "sessionWebhookExpiredTime"),
]


@pytest.mark.parametrize("door,body,field", REPRODUCTIONS, ids=[f"{d}-{f}" for d, _, f in REPRODUCTIONS])
def test_each_reproduction_is_a_400_naming_the_field(live, door, body, field):
    """Over-long fields were a 500 on PostgreSQL, malformed but signed bodies a 500 everywhere; now a 400 whose
    reason names the field (Shopify included, so it does not retry for hours on a 5xx)."""
    path, valid, headers = _door(door)
    if door == "dingtalk":
        body = {**valid, **body}
    raw = _raw(body)
    resp = live.http.post(live.base + path, data=raw, headers=headers(raw), timeout=10)
    assert resp.status_code == 400, resp.text
    assert field in resp.text, resp.text


ATTACKER = """
import sys, threading, requests
base, n = sys.argv[1], 40
deep = b"<xml>" + b"<a>" * 120_000 + b"</a>" * 120_000 + b"</xml>"
query = {"msg_signature": "0" * 40, "timestamp": "1770000000", "nonce": "n"}
statuses, lock, jobs = [], threading.Lock(), list(range(n))

def worker():
    with requests.Session() as http:
        while True:
            with lock:
                if not jobs:
                    return
                i = jobs.pop()
            data = deep if i % 2 else (deep[k:k + 65536] for k in range(0, len(deep), 65536))  # odd: chunked
            try:
                status = http.post(base + "/wecom/callback", params=query, data=data, timeout=30).status_code
            except requests.ConnectionError:  # refused before the whole body was sent: the server closed early
                status = 413
            with lock:
                statuses.append(status)

threads = [threading.Thread(target=worker) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(" ".join(map(str, statuses)))
"""


def test_healthz_stays_quick_under_deep_xml_bodies(live):
    """Issue 13, item 2: 40 bodies of 840 KB nested 120,000 deep, 8 at a time, to /wecom/callback with a wrong
    signature stalled /healthz for up to 3.2 s. Now each is refused before it is parsed (or even read whole).
    The attacker is another process, so what is measured is the server, not this process's threads."""
    import subprocess
    import sys

    def probe() -> float:
        t = time.perf_counter()
        assert live.http.get(live.base + "/healthz", timeout=10).status_code == 200
        return time.perf_counter() - t

    probe()  # warm (Alembic's first load)
    idle = sorted(probe() for _ in range(10))
    attacker = subprocess.Popen([sys.executable, "-c", ATTACKER, live.base], stdout=subprocess.PIPE, text=True)
    latencies = []
    while attacker.poll() is None:
        latencies.append(probe())
        time.sleep(0.01)
    statuses = [int(x) for x in attacker.communicate(timeout=60)[0].split()]
    assert attacker.returncode == 0 and len(statuses) == 40 and all(400 <= s < 500 for s in statuses), statuses
    # Relative to the same server idle, since the test machine is shared: before the fix the loop parsed each
    # body (the median probe waited seconds); now a probe waits at most for a 413 or a 401.
    latencies.sort()
    assert latencies[len(latencies) // 2] < 4 * idle[5] + 0.05, (latencies, idle)
    assert latencies[-1] < 2.0, latencies  # was 3.2 s
