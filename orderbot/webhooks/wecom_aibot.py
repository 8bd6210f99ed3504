"""`GET/POST /wecom/aibot`: the WeCom 智能机器人 (AI bot) in callback mode.

Order of work, each step refusing before the next: body size (413) → JSON envelope (400) → signature over the
`encrypt` value, in constant time (401) → decrypt with receive id "" (400/403) → parse (400) → hand over.
Then by kind:
- a message is stored in the inbox (dedupe on msgid) and answered in the response if its answer is ready within
  `one_go` seconds (a finished `stream`, with chart images and a button card), else with an unfinished stream
  that WeCom polls; the answer reaches the stream through the outbox (`AibotSender`). A retried callback gets
  the same stream again, never a second answer;
- a stream poll gets the stream's current content;
- a card click is processed at once and answered with `update_template_card` (WeCom waits 5 s, once); an answer
  the card cannot show whole follows through the outbox (the response_url, then the group's 消息推送 webhook or
  the WeCom app);
- enter_chat gets the welcome, feedback is stored; images and files in 1:1 are acknowledged, not understood.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

from aiohttp import web

from orderbot.messaging.aibot_streams import StreamStore
from orderbot.messaging.inbound import CardAction, ChatMessage, EnterAgent
from orderbot.messaging.pipeline import InboundPipeline, PassiveAnswer
from orderbot.messaging.senders.wecom_aibot import card_update, click_carries_all, fits_stream, stream_reply
from orderbot.messaging.text import reply_plain
from orderbot.webhooks.aibot_crypto import AibotCrypto, CryptoError
from orderbot.webhooks.aibot_msg import BadMessage, StreamPoll, Unreadable, to_event
from orderbot.webhooks.common import CLOCK, METRICS, TaskTracker, drain_at_shutdown, json_error

log = logging.getLogger("orderbot.webhooks.aibot")
MAX_BODY = 64 * 1024  # an encrypted callback is a few KB; anything far larger is not from WeCom
# Seconds an answer may take to go back finished in the first response: an order card usually makes it; anything
# slower follows at WeCom's next stream poll (about a second later). Waiting longer would hold every
# acknowledgement up (WeCom's own wait is longer, but a flood of callbacks must not pile up behind answers): the
# acknowledgement's p99 is this window plus decrypting, the inbox row and encrypting, and is asked to stay under
# 50 ms at 50 callbacks a second (benchmarks/aibot.py). 40 ms left too little for a busy machine.
ONE_GO = 0.025
# Once an answer ready within ONE_GO is claimed for the response, its transaction still has to commit (others of
# a burst may share it). A message's response waits at most this long for that commit; a slower commit (a busy
# database) leaves the answer to the outbox and the stream, which WeCom polls about a second later.
MESSAGE_COMMIT_WAIT = 0.015
CARD_DEADLINE = 3.5  # WeCom waits 5 s for a click's answer, and only once
CLAIM_MARGIN = 1.0  # a click's response waits this long for the commit of its claimed answer
UNREADABLE = {
    "image": "收到图片了，不过我还看不懂图片内容。想查什么，请直接用文字或语音告诉我，例如「SO202602010001 到哪了」。",
    "file": "收到文件了，不过我不读取文件内容。导入订单请让管理员用 orderbot import。",
    "video": "收到视频了，不过我看不懂视频。请用文字或语音告诉我要查什么。",
}


@dataclass
class AibotInbound:
    crypto: AibotCrypto
    pipeline: InboundPipeline
    streams: StreamStore
    bot_id: str | None = None
    bot_name: str = ""
    one_go: float = ONE_GO
    card_deadline: float = CARD_DEADLINE
    background: TaskTracker = field(default_factory=lambda: TaskTracker("wecom_aibot"))


AIBOT = web.AppKey("wecom_aibot_inbound", AibotInbound)


def _query(request: web.Request, *names: str) -> list[str]:
    values = [request.query.get(n, "") for n in names]
    if not all(values):
        missing = ", ".join(n for n, v in zip(names, values) if not v)
        raise web.HTTPBadRequest(
            text=json.dumps({"ok": False, "error": f"missing query parameter(s): {missing}"}),
            content_type="application/json",
        )
    return values


async def verify_url(request: web.Request) -> web.Response:
    inbound = request.app[AIBOT]
    sig, ts, nonce, echostr = _query(request, "msg_signature", "timestamp", "nonce", "echostr")
    if not inbound.crypto.signed(sig, ts, nonce, echostr):
        return web.Response(status=401, text="invalid signature")
    try:
        plain = inbound.crypto.decrypt(echostr)
    except CryptoError as exc:
        return web.Response(status=400, text=f"cannot decrypt echostr: {exc}")
    return web.Response(text=plain, content_type="text/plain")


async def _read_capped(request: web.Request) -> bytes | None:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    body = await request.content.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


def _sealed(inbound: AibotInbound, payload: dict, nonce: str) -> web.Response:
    return web.json_response(inbound.crypto.seal_reply(payload, nonce))


async def receive(request: web.Request) -> web.Response:
    inbound = request.app[AIBOT]
    metrics = request.app[METRICS]
    sig, ts, nonce = _query(request, "msg_signature", "timestamp", "nonce")
    raw = await _read_capped(request)
    if raw is None:
        metrics.inbound("wecom_aibot", "too_large")
        return json_error(413, "请求体过大")
    try:
        envelope = json.loads(raw)
        encrypted = envelope.get("encrypt") or envelope.get("Encrypt")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        metrics.inbound("wecom_aibot", "bad_json")
        return json_error(400, 'body is not the JSON envelope {"encrypt": …}')
    if not isinstance(encrypted, str) or not encrypted:
        return json_error(400, "encrypt missing")
    if not inbound.crypto.signed(sig, ts, nonce, encrypted):
        metrics.inbound("wecom_aibot", "bad_signature")
        return json_error(401, "invalid signature")
    try:
        body = json.loads(inbound.crypto.decrypt(encrypted))
        if inbound.bot_id and isinstance(body, dict) and body.get("aibotid") not in (None, inbound.bot_id):
            metrics.inbound("wecom_aibot", "wrong_bot")
            return json_error(403, "callback for another bot")
        event = to_event(body, mode="callback", received=request.app[CLOCK](), bot_name=inbound.bot_name)
    except CryptoError as exc:
        metrics.inbound("wecom_aibot", "undecryptable")
        return json_error(400, f"cannot decrypt: {exc}")
    except (json.JSONDecodeError, BadMessage) as exc:
        return json_error(400, str(exc))
    if isinstance(event, StreamPoll):
        return _sealed(inbound, inbound.streams.poll(event.stream_id), nonce)
    if isinstance(event, Unreadable):
        return _sealed(
            inbound,
            {"msgtype": "stream", "stream": {"id": event.stream_id, "finish": True, "content": UNREADABLE[event.kind]}},
            nonce,
        )
    if event is None:
        return web.Response(text="")
    if isinstance(event, ChatMessage):
        route = dict(event.origin.reply_route)
        inbound.streams.open(route["stream"], route.get("feedback"))  # before the inbox: a retry finds it
    inbox_id = await inbound.pipeline.accept(event)  # durable before we answer
    if inbox_id is None:
        metrics.inbound("wecom_aibot", "duplicate")
        if isinstance(event, ChatMessage):
            return _sealed(inbound, inbound.streams.poll(dict(event.origin.reply_route)["stream"]), nonce)
        return web.Response(text="")
    metrics.inbound("wecom_aibot", "accepted")
    if isinstance(event, ChatMessage):
        return await _answer_message(inbound, inbox_id, event, nonce)
    if isinstance(event, (CardAction, EnterAgent)):
        return await _answer_now(inbound, inbox_id, event, nonce)
    inbound.pipeline.schedule(inbox_id, event)  # feedback: stored, never answered
    return web.Response(text="")


async def _passive(
    inbound: AibotInbound,
    inbox_id: int,
    event,
    fits,
    wait: float,
    *,
    urgent: bool,
    outbox_too: bool = False,
    commit_wait: float = CLAIM_MARGIN,
):
    """Run the event, claiming its reply for the HTTP response if it is ready within `wait` seconds; the reply,
    or None when it goes through the outbox instead. `urgent`: ahead of other work (a click must be answered
    within WeCom's 5 s; a message may wait for a flood of callbacks to be acknowledged, then go by the stream).
    `outbox_too`: also the reply that did not `fit` (queued for the outbox) if it is ready in time.
    `commit_wait`: how long a claimed reply's commit is waited for; after that its row is reopened once it has
    committed, and the outbox sends it."""
    loop = asyncio.get_running_loop()
    answer = PassiveAnswer(fits, until=loop.time() + wait)
    task = inbound.background.spawn(inbound.pipeline.run(inbox_id, event, urgent=urgent, answer=answer))
    try:
        try:
            processed = await asyncio.wait_for(asyncio.shield(task), wait)
        except TimeoutError:
            if answer.give_up():
                return None
            processed = await asyncio.wait_for(asyncio.shield(task), commit_wait)
    except Exception:  # a failure is recorded (and told) by the pipeline; a late commit goes via the outbox
        if not answer.give_up():
            task.add_done_callback(lambda done: _reopen(inbound, done))
        return None
    if processed is not None and (processed.passive or outbox_too) and processed.reply is not None:
        return processed.reply
    return None


def _reopen(inbound: AibotInbound, task: asyncio.Task) -> None:
    if task.cancelled() or task.exception() is not None or task.result() is None:
        return
    if task.result().passive and task.result().outbox_id is not None:
        inbound.background.spawn(inbound.pipeline.reopen_reply(task.result().outbox_id))


async def _answer_message(inbound: AibotInbound, inbox_id: int, event: ChatMessage, nonce: str) -> web.Response:
    route = dict(event.origin.reply_route)
    sid = route["stream"]
    reply = await _passive(
        inbound, inbox_id, event, fits_stream, inbound.one_go, urgent=False, commit_wait=MESSAGE_COMMIT_WAIT
    )
    if reply is None:  # still working (or nothing to say): WeCom polls the open stream
        return _sealed(inbound, inbound.streams.poll(sid), nonce)
    body, card, _ = stream_reply(reply, sid, f"{event.origin.reply_to}:{sid}")
    if card is not None:
        inbound.streams.remember_card(card["task_id"], card)
    inbound.streams.finish(sid, body, {"template_card": card} if card else None, delivered=True)
    return _sealed(inbound, inbound.streams.poll(sid), nonce)


async def _answer_now(inbound: AibotInbound, inbox_id: int, event, nonce: str) -> web.Response:
    """A click: the card update goes back in the response; an answer the card cannot show whole (a table, a
    chart, a long text) is not claimed, its row goes to the outbox, which sends it into the chat (response_url
    and what follows it), while the update shows a summary. A welcome: the text."""
    click = isinstance(event, CardAction)
    fits = click_carries_all if click else (lambda r: True)
    reply = await _passive(inbound, inbox_id, event, fits, inbound.card_deadline, urgent=True, outbox_too=click)
    if reply is None:
        return web.Response(text="")
    if isinstance(event, CardAction):
        task = event.task_id or ""
        payload = card_update(reply, task, event.origin.user_id, inbound.streams.cards.get(task))
        if "userids" not in payload:  # changed for everybody: the card as it now is
            inbound.streams.remember_card(task, payload["template_card"])
        return _sealed(inbound, payload, nonce)
    return _sealed(inbound, {"msgtype": "text", "text": {"content": reply_plain(reply)[:2000]}}, nonce)


def setup(app: web.Application, inbound: AibotInbound) -> None:
    app[AIBOT] = inbound
    drain_at_shutdown(app, inbound.background)
    app.router.add_get("/wecom/aibot", verify_url)
    app.router.add_post("/wecom/aibot", receive)
