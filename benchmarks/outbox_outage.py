"""Benchmark: the outbox after a 10-minute platform outage heals by itself.

5,000 messages to 50 WeCom group robots queue while the local fake robot API answers HTTP 500 for ten minutes
(simulated clock); then it recovers. Figure: simulated seconds from recovery to the last delivery, against the
minimum the platform's rate limit allows (20 messages a minute per robot, the first window at once); target that
minimum + 10%, with zero dead, zero doubles and zero platform refusals (45009).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, UTC
from pathlib import Path

import aiohttp

OUTAGE = timedelta(minutes=10)
PER_MINUTE = 20  # the WeCom group robot's limit, per robot


async def bench_outbox_after_outage(messages: int = 5000, destinations: int = 50) -> dict:
    from aiohttp.test_utils import TestServer

    from orderbot.messaging.reply import Reply
    from orderbot.core import outbox
    from orderbot.core.clock import ManualClock
    from orderbot.db.engine import Database
    from orderbot.db.migrate import upgrade
    from orderbot.messaging.senders.wecom import WeComRobotSender
    from orderbot.messaging.worker import OutboxWorker
    from tests.fakes.wecom import FakeWeCom

    clock = ManualClock(datetime(2026, 2, 10, 1, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(tmp) / 'outage.db'}")
        await upgrade(db.engine)
        fake = FakeWeCom(clock=lambda: clock().timestamp())
        server = TestServer(fake.app())
        await server.start_server()
        try:
            async with db.write() as s:
                for i in range(messages):
                    await outbox.enqueue(
                        s,
                        channel="wecom_robot",
                        destination=f"robot:K{i % destinations}",
                        kind="reply",
                        payload=Reply(text=f"消息 {i}").to_dict(),
                        now=clock(),
                    )
            async with aiohttp.ClientSession() as http:
                worker = OutboxWorker(
                    db,
                    {"wecom_robot": WeComRobotSender(http, str(server.make_url("")))},
                    clock,
                    batch=1000,
                    concurrency=50,
                    seed=1,
                )
                wall = time.perf_counter()
                fake.outage.start("500")
                start = clock()
                while clock() - start < OUTAGE:
                    if await worker.run_once() != 0:
                        raise RuntimeError("delivered during the outage")
                    clock.advance(seconds=1)
                refused_in_outage = fake.outage.refused
                fake.outage.recover()
                recovered, sent = clock(), 0
                while sent < messages and clock() - recovered < timedelta(hours=2):
                    n = await worker.run_once()
                    sent += n
                    if n == 0:
                        clock.advance(seconds=1)
                wall = time.perf_counter() - wall
                async with db.read() as s:
                    states = await outbox.counts(s)
        finally:
            await server.close()
            await db.dispose()
    healed = (clock() - recovered).total_seconds()
    minimum = (messages / (PER_MINUTE * destinations) - 1) * 60  # the first window starts at once
    texts = Counter(m["text"]["content"] for key in fake.robot_messages for m in fake.robot_messages[key])
    doubles = sum(n - 1 for n in texts.values() if n > 1)
    dead = states.get("dead", 0)
    ok = healed <= minimum * 1.1 and dead == 0 and doubles == 0 and fake.refused == 0 and len(texts) == messages
    return {
        "name": "outbox.after_10min_outage_5k",
        "figure": round(healed),
        "unit": "s simulated",
        "baseline": round(minimum),
        "ok": ok,
        "detail": f"{messages} messages to {destinations} robots at {PER_MINUTE}/min after {OUTAGE} of HTTP 500 "
        f"({refused_in_outage} refused tries during it): delivered {len(texts)}, dead {dead}, "
        f"doubles {doubles}, platform refusals (45009) {fake.refused}; worker wall time {wall:.1f} s",
    }
