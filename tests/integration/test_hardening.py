"""Issue 13 regressions below the HTTP edge: long dedupe keys, who may scan, strangers folded into one ticket."""

from __future__ import annotations

from sqlalchemy import func, select

from orderbot.messaging.reply import Reply
from orderbot.core.keys import fit_key
from orderbot.core.models import InboundEvent
from orderbot.messaging.inbound import Origin, ScanEvent
from orderbot.messaging.pipeline import InboundPipeline


def test_fit_key_keeps_short_keys_and_separates_long_ones():
    assert fit_key("evt:u:1:scancode_push:menu") == "evt:u:1:scancode_push:menu"  # rows stored before still match
    head = "evt:zhangsan:1760000000:scancode_waitmsg:" + "k" * 200
    a, b = fit_key(head + ":OB1|SO1|A"), fit_key(head + ":OB1|SO2|B")
    assert len(a) == len(b) == 191 and a != b
    assert fit_key(head + ":OB1|SO1|A") == a  # stable: a platform retry still finds the key


async def test_two_scans_differing_after_191_characters_are_both_kept(db, clock):
    """Issue 13, item 10: a long menu key made two different scans in one second one inbox row."""
    handled = []

    async def handler(event, session):
        handled.append(event.raw)
        return Reply(text="ok")

    pipeline = InboundPipeline(db, handler, clock)
    origin = Origin("wecom", "zhangsan", reply_channel="sandbox", reply_to="user:zhangsan")
    key = "evt:zhangsan:1760000000:scancode_push:" + "station-key-" * 20
    first = ScanEvent(origin, "OB1|SO1", f"{key}:OB1|SO1", clock())
    second = ScanEvent(origin, "OB1|SO2", f"{key}:OB1|SO2", clock())
    assert await pipeline.process(first) is not None
    assert await pipeline.process(second) is not None
    assert await pipeline.process(first) is None  # the retry of the first is still a duplicate
    assert handled == ["OB1|SO1", "OB1|SO2"]
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(InboundEvent))).scalar() == 2
