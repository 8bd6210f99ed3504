"""`GET/POST /wecom/callback`: WeCom URL verification and encrypted messages and events.

Order of work, each step refusing before the next: body size (413, a small cap read before anything is
buffered) → the Encrypt value found by a bounded regex, no XML parse yet (400) → signature over it, compared in
constant time (401) → the envelope parsed with no DTD/entities and bounded depth (400) → decrypt and receive
id = our corp id (403) → parse (400) → hand to the pipeline. A hostile body never reaches the XML parser
unsigned, and a signed one is depth-checked first, so deep nesting cannot stall the event loop.
WeCom retries anything that is not a 200 within 5 s, so bad input gets a 4xx (never a 500) and slow work is
acknowledged at once and answered through the API. A scancode_waitmsg whose answer is ready within the deadline goes
back as the encrypted passive reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from orderbot.messaging.text import reply_plain, split_utf8
from orderbot.messaging.inbound import ScanEvent
from orderbot.messaging.pipeline import InboundPipeline, PassiveAnswer
from orderbot.webhooks.common import METRICS, TaskTracker, drain_at_shutdown, json_error
from orderbot.webhooks.limits import read_capped
from orderbot.webhooks.wecom_xml import BadXml, encrypted_value, fields, parse_xml, to_event

log = logging.getLogger("orderbot.webhooks.wecom")
PASSIVE_DEADLINE = 3.5  # seconds we wait for a scan's answer before acknowledging with an empty 200
CLAIM_MARGIN = 1.0  # processing claims the response up to this long before the deadline, and may commit within it


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def seal(
    crypto: WeChatCrypto, token: str, corp_id: str, plain: str, *, nonce: str, timestamp: str
) -> tuple[dict[str, str], str]:
    """What WeCom sends for a plaintext message: the query (msg_signature, timestamp, nonce) and the encrypted
    XML body. The benchmarks and tests use it; a sandbox scanner can post through the real callback with it."""
    encrypted = fields(parse_xml(crypto.encrypt_message(plain, nonce, timestamp)))["Encrypt"]
    body = f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return {
        "msg_signature": signature(token, timestamp, nonce, encrypted),
        "timestamp": timestamp,
        "nonce": nonce,
    }, body


@dataclass
class WeComInbound:
    token: str
    crypto: WeChatCrypto
    corp_id: str
    agent_id: int | None
    pipeline: InboundPipeline
    passive_deadline: float = PASSIVE_DEADLINE
    background: TaskTracker = field(default_factory=lambda: TaskTracker("wecom"))

    def signed(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> bool:
        return hmac.compare_digest(signature(self.token, timestamp, nonce, encrypted).encode(), msg_signature.encode())

    def passive_reply(self, to_user: str, content: str, nonce: str) -> str:
        now = str(int(time.time()))
        plain = (
            f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName>"
            f"<FromUserName><![CDATA[{self.corp_id}]]></FromUserName><CreateTime>{now}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{_cdata(content)}]]></Content>"
            + (f"<AgentID>{self.agent_id}</AgentID>" if self.agent_id is not None else "")
            + "</xml>"
        )
        return self.crypto.encrypt_message(plain, nonce, now)


WECOM = web.AppKey("wecom_inbound", WeComInbound)


def _fits_passively(reply) -> bool:
    """A passive reply is one text of at most 2048 bytes; anything richer goes through the outbox."""
    return (
        not (reply.charts or reply.files or (reply.card and reply.card.buttons))
        and len(split_utf8(reply_plain(reply), 2048)) == 1
    )


def _cdata(text: str) -> str:
    return text.replace("]]>", "]]]]><![CDATA[>")


def _query(request: web.Request, *names: str) -> list[str]:
    values = [request.query.get(n, "") for n in names]
    if not all(values):
        raise web.HTTPBadRequest(
            text=f"missing query parameter(s): {', '.join(n for n, v in zip(names, values) if not v)}"
        )
    return values


async def verify_url(request: web.Request) -> web.Response:
    inbound = request.app[WECOM]
    sig, ts, nonce, echostr = _query(request, "msg_signature", "timestamp", "nonce", "echostr")
    if not inbound.signed(sig, ts, nonce, echostr):
        return web.Response(status=401, text="invalid signature")
    try:
        plain = inbound.crypto.check_signature(sig, ts, nonce, echostr)
    except InvalidSignatureException:
        return web.Response(status=401, text="invalid signature")
    except InvalidCorpIdException:
        return web.Response(status=403, text="wrong corp id")
    except (ValueError, TypeError, UnicodeDecodeError, IndexError) as exc:
        return web.Response(status=400, text=f"cannot decrypt echostr: {type(exc).__name__}")
    return web.Response(text=plain, content_type="text/plain")


async def receive(request: web.Request) -> web.Response:
    inbound = request.app[WECOM]
    metrics = request.app[METRICS]
    sig, ts, nonce = _query(request, "msg_signature", "timestamp", "nonce")
    body = await read_capped(request)  # 413 past the cap, before anything is buffered or parsed
    encrypted = encrypted_value(body)  # a bounded regex, not an XML parse: the signature is checked first
    if encrypted is None:
        metrics.inbound("wecom", "bad_xml")
        return json_error(400, "Encrypt element missing")
    if not inbound.signed(sig, ts, nonce, encrypted):
        metrics.inbound("wecom", "bad_signature")
        return json_error(401, "invalid signature")
    try:  # signed: now the envelope may be parsed (no DTD or entities, bounded depth)
        envelope = fields(parse_xml(body))
    except BadXml as exc:
        metrics.inbound("wecom", "bad_xml")
        return json_error(400, str(exc))
    if envelope.get("Encrypt") != encrypted:
        return json_error(400, "Encrypt element ambiguous")
    try:
        plain = inbound.crypto.decrypt_message({"Encrypt": encrypted}, sig, ts, nonce)
        event = to_event(parse_xml(plain))
    except InvalidCorpIdException:
        metrics.inbound("wecom", "wrong_corp")
        return json_error(403, "wrong corp id")
    except BadXml as exc:
        return json_error(400, str(exc))
    except (ValueError, TypeError, UnicodeDecodeError, IndexError) as exc:  # wrong key, bad padding, bad base64
        metrics.inbound("wecom", "undecryptable")
        return json_error(400, f"cannot decrypt: {type(exc).__name__}")
    if event is None:
        return web.Response(text="")
    inbox_id = await inbound.pipeline.accept(event)  # durable before we say 200
    if inbox_id is None:
        metrics.inbound("wecom", "duplicate")
        return web.Response(text="")
    metrics.inbound("wecom", "accepted")
    if not (isinstance(event, ScanEvent) and event.wants_reply):
        inbound.pipeline.schedule(inbox_id, event)  # answered through the outbox
        return web.Response(text="")
    loop = asyncio.get_running_loop()
    answer = PassiveAnswer(_fits_passively, until=loop.time() + inbound.passive_deadline - CLAIM_MARGIN)
    task = inbound.background.spawn(inbound.pipeline.run(inbox_id, event, answer=answer))
    answered = False
    try:
        try:
            processed = await asyncio.wait_for(asyncio.shield(task), inbound.passive_deadline)
        except TimeoutError:
            if answer.give_up():
                metrics.inbound("wecom", "deferred")
                return web.Response(text="")  # acknowledged; the reply goes out through the outbox when ready
            processed = await asyncio.wait_for(asyncio.shield(task), CLAIM_MARGIN)  # claimed: committing now
        if processed is not None and processed.passive and processed.reply is not None:
            xml = inbound.passive_reply(event.origin.user_id, reply_plain(processed.reply), secrets.token_hex(8))
            answered = True
            return web.Response(text=xml, content_type="application/xml")
        return web.Response(text="")
    except TimeoutError:
        log.warning("a passive reply claimed before the deadline was not committed in time (inbox #%s)", inbox_id)
        return web.Response(text="")
    except Exception:  # recorded as failed by the pipeline, which also tells the person
        return web.Response(text="")
    finally:  # not answered in the response (late, failed, or this request cancelled): the outbox sends it
        if not answered and not answer.give_up():
            task.add_done_callback(lambda done: _reopen(inbound, done))


def _reopen(inbound: WeComInbound, task: asyncio.Task) -> None:
    if task.cancelled() or task.exception() is not None or task.result() is None:
        return
    if task.result().passive and task.result().outbox_id is not None:
        inbound.background.spawn(inbound.pipeline.reopen_reply(task.result().outbox_id))


def setup(app: web.Application, inbound: WeComInbound) -> None:
    app[WECOM] = inbound
    drain_at_shutdown(app, inbound.background)
    app.router.add_get("/wecom/callback", verify_url)
    app.router.add_post("/wecom/callback", receive)
