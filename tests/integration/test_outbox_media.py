"""Chart images travel by reference: the outbox row holds a `core/media` id, the worker loads the bytes to send.

On both databases, through the inbox pipeline and the outbox worker, to the local fake WeCom (app upload, robot
base64+md5) and the sandbox channel; an image gone before the send is a dead letter with its reason; rows queued
before the change (the image inline) still send.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json

from PIL import Image
from sqlalchemy import func, select

from orderbot.core import media, outbox
from orderbot.core.models import Media, OutboxMessage
from orderbot.messaging.inbound import ChatMessage, Origin
from orderbot.messaging.pipeline import InboundPipeline
from orderbot.messaging.reply import Chart, Reply
from orderbot.messaging.senders.sandbox import SandboxSender
from orderbot.messaging.worker import OutboxWorker


def _png(seed: int) -> bytes:
    """A real PNG of some size (noise compresses badly), different for each seed."""
    image = Image.effect_noise((240, 160), 40 + seed).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


async def _rows(db) -> list[OutboxMessage]:
    async with db.read() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_a_chart_reply_is_queued_by_reference_and_delivered_with_its_bytes(db, clock, wecom):
    fake, senders, _ = wecom
    png = _png(1)
    assert len(png) > 50_000

    async def handler(event, session):
        return Reply(title="七日趋势", text="近七天发货量", charts=(Chart("七日趋势", png),))

    pipeline = InboundPipeline(db, handler, clock)
    for platform, user, channel in (("wecom", "WangLei", "wecom"), ("sandbox", "u1", "sandbox")):
        origin = Origin(platform, user, None, reply_channel=channel, reply_to=f"user:{user}")
        assert await pipeline.process(ChatMessage(origin, "趋势", f"msg:{user}", clock())) is not None

    rows = await _rows(db)
    assert [r.channel for r in rows] == ["wecom", "sandbox"]
    for row in rows:  # a reference, not the picture: the row stays small
        assert row.payload["charts"] == [{"title": "七日趋势", "media": media.content_id(png)}]
        assert len(json.dumps(row.payload, ensure_ascii=False)) < 1000
    async with db.read() as s:  # the same image for two people is stored once
        assert (await s.execute(select(func.count()).select_from(Media))).scalar_one() == 1
        assert (await media.fetch(s, media.content_id(png), clock())) == (png, "image/png")

    sandbox = SandboxSender(clock)
    worker = OutboxWorker(db, {**senders, "sandbox": sandbox}, clock, seed=1)
    assert await worker.run_once() == 2
    assert list(fake.media.values()) == [png]  # WeCom got the very bytes, uploaded at send time
    (image_msg,) = [m for m in fake.messages if m.get("msgtype") == "image"]
    assert fake.media[image_msg["image"]["media_id"]] == png
    (shown,) = sandbox.sent
    assert base64.b64decode(shown["payload"]["charts"][0]["png"]) == png  # what the sandbox page serves
    assert {r.state for r in await _rows(db)} == {"sent"}
    assert all("png" not in r.payload["charts"][0] for r in await _rows(db))  # the rows keep their reference


async def test_a_message_whose_image_is_gone_is_dead_with_the_reason_and_the_next_one_goes(db, clock, wecom):
    fake, senders, _ = wecom
    async with db.write() as s:
        for reply in (Reply(text="图", charts=(Chart("扫码热力图", _png(2)),)), Reply(text="后面这条照常发出")):
            await outbox.enqueue(
                s, channel="wecom", destination="user:A", kind="reply", payload=reply.to_dict(), now=clock()
            )
    clock.advance(days=8)  # the images are kept a week: the scheduler's purge removes this one
    async with db.write() as s:
        assert await media.purge_expired(s, clock()) == 1
    assert await OutboxWorker(db, senders, clock, seed=1).run_once() == 1
    first, second = await _rows(db)
    assert first.state == "dead" and "图表「扫码热力图」的图片已不在" in first.last_error
    assert second.state == "sent"
    assert fake.media == {} and [m["markdown"]["content"] for m in fake.messages] == ["后面这条照常发出"]


async def test_rows_queued_with_the_image_inline_still_send(db, clock, wecom):
    """Rows written before images moved out of the outbox (`{"title", "png": base64}`) are read as before."""
    fake, senders, _ = wecom
    png = _png(3)
    async with db.write() as s:  # written as the old code wrote them, straight into the table
        for channel, destination in (("wecom", "user:B"), ("wecom_robot", "robot:OPS")):
            s.add(
                OutboxMessage(
                    channel=channel,
                    destination=destination,
                    kind="reply",
                    payload=Reply(text="旧消息", charts=(Chart("旧图", png),)).to_dict(),
                    state="pending",
                    attempts=0,
                    next_attempt_at=clock(),
                    created_at=clock(),
                )
            )
    assert await OutboxWorker(db, senders, clock, seed=1).run_once() == 2
    assert list(fake.media.values()) == [png]
    image = fake.robot_messages["OPS"][-1]["image"]
    assert base64.b64decode(image["base64"]) == png and image["md5"] == hashlib.md5(png).hexdigest()


async def test_the_same_image_queued_again_keeps_one_row_until_the_latest_expiry(db, clock):
    png = _png(4)
    payload = Reply(text="日报", charts=(Chart("日报", png),)).to_dict()
    async with db.write() as s:
        await outbox.enqueue(s, channel="sandbox", destination="user:x", kind="reply", payload=payload, now=clock())
    clock.advance(days=5)
    async with db.write() as s:  # the same chart five days later: one row, kept a week from now
        await outbox.enqueue(s, channel="sandbox", destination="user:y", kind="reply", payload=payload, now=clock())
    clock.advance(days=3)  # past the first expiry, before the second
    async with db.write() as s:
        assert await media.purge_expired(s, clock()) == 0
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Media))).scalar_one() == 1
        assert (await media.fetch(s, media.content_id(png), clock())) == (png, "image/png")


async def test_every_send_is_observed_by_channel_and_outcome(db, clock):
    """What feeds `/metrics`' send histogram: one observation per send tried, sent / retry / dead."""
    from orderbot.messaging.senders.base import SendError

    class Flaky:
        channel = "flaky"

        def limit_for(self, destination):
            return None

        async def send(self, destination, kind, payload, progress):
            if payload["text"] == "busy":
                raise SendError("系统繁忙")
            if payload["text"] == "refused":
                raise SendError("拒收", permanent=True)

    seen = []
    async with db.write() as s:
        for i, text in enumerate(("ok", "busy", "refused")):
            payload = Reply(text=text).to_dict()
            await outbox.enqueue(s, channel="flaky", destination=f"u:{i}", kind="reply", payload=payload, now=clock())
    worker = OutboxWorker(db, {"flaky": Flaky()}, clock, seed=1, observe_send=lambda *a: seen.append(a))
    assert await worker.run_once() == 1
    assert sorted((c, o) for c, o, _ in seen) == [("flaky", "dead"), ("flaky", "retry"), ("flaky", "sent")]
    assert all(0 <= seconds < 5 for *_, seconds in seen)
