"""Benchmark: the outbox after a 10-minute platform outage heals by itself.

5,000 messages to 50 WeCom group robots queue while the local fake robot API answers HTTP 500 for ten minutes
(simulated clock); then it recovers. Figure: simulated seconds from recovery to the last delivery, against the
minimum the platform's rate limit allows (20 messages a minute per robot, the first window at once); target that
minimum + 10%, with zero dead, zero doubles and zero platform refusals (45009).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, UTC


OUTAGE = timedelta(minutes=10)
PER_MINUTE = 20  # the WeCom group robot's limit, per robot


async def bench_outbox_after_outage(messages: int = 5000, destinations: int = 50) -> dict:
    from benchmarks.channels import robot_outbox
    from orderbot.core import outbox
    from orderbot.core.clock import ManualClock

    clock = ManualClock(datetime(2026, 2, 10, 1, 0, tzinfo=UTC))
    async with robot_outbox("outage.db", clock, messages, destinations, lambda i: f"消息 {i}") as (worker, fake, db):
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
