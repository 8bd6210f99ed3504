"""Cards never lose content (issue 15, clause 4): every handler's reply — every chat intent's, asked with its
route's own example, and every button's, pressed on the card that offers it — delivered through the WeCom app,
the WeCom AI bot (callback mode and long connection; a button's answer also as the AI bot gives it, the card
update and what follows it), DingTalk and a WeCom group robot (the local fakes, over HTTP and WebSocket) carries
every line of text and table the sandbox shows for it (`reply_plain`, the sandbox page's answer). The handlers
come from the dispatch registry (`ROUTES`): a new one is run here, or the test fails naming it."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

import aiohttp

from orderbot.bot.dispatch import _command, allowed
from orderbot.bot.handlers import ROUTES
from orderbot.messaging.aibot_streams import StreamStore
from orderbot.messaging.links import MediaLinks
from orderbot.messaging.reply import Button, Card, Reply, Table
from orderbot.messaging.senders.dingtalk import DingTalkApi, DingTalkSender
from orderbot.messaging.senders.wecom_aibot import AibotSender, card_update, click_carries_all
from orderbot.messaging.text import reply_plain
from orderbot.webhooks.aibot_ws import AibotWsClient

from tests.fakes import serving
from tests.fakes.dingtalk import FakeDingTalk
from tests.fakes.wecom_aibot import STREAM_LIMIT, FakeAibotWs, ResponseUrls
from tests.integration.test_dispatch import bot, parser  # noqa: F401  (fixtures)
from tests.integration.test_reports import staffed_business  # noqa: F401  (the fixture)

NOT_CHAT = {"scan": "a scan (ScanEvent) from the WeCom scanner, tested in tests/integration/test_scanning.py"}
# Buttons no reply of the example questions offers in the seeded business (no alert raised, no order held, no
# courier breaker open): pressed with keys of the shape their cards use, so each handler runs (its answer may be
# that the alert or order is not there — a reply like any other).
PRESSED = {  # button handler: (who presses, key)
    "action.courier_hold": ("wujun", "courier_hold:深圳"),
    "action.courier_resume": ("wujun", "courier_resume:深圳"),
    "action.alert_ack": ("sunli", "alert_ack:1"),
    "action.alert_ack_all": ("sunli", "alert_ack_all:*:1770000000"),
    "action.alert_apply": ("heping", "alert_apply:1"),
    "action.alert_undo": ("heping", "alert_undo:1"),
    "action.customs_claim": ("chenjing", "customs_claim:1"),
    "action.customs_docs_sent": ("chenjing", "customs_docs_sent:1"),
    "action.customs_release": ("chenjing", "customs_release:1"),
    "action.docs_done": ("chenjing", "docs_done:1"),
    "action.held_list": ("heping", "held_list:tiktok"),
    "action.release_held": ("heping", "release_held:tiktok"),
    "action.release_one": ("heping", "release_one:SO202602010001"),
    "action.cancel_held": ("heping", "cancel_held:SO202602010002"),
    "action.purchase": ("heping", "purchase:PB-20K-BLK*500"),
    "action.task_view": ("heping", "task_view:1"),
    "action.task_take": ("heping", "task_take:1"),
    "action.task_done": ("heping", "task_done:1"),
    "action.task_hand": ("heping", "task_hand:1"),
}
LONG = Reply(
    title="长回复",
    text="\n".join(f"第{i}行：" + "很长的说明文字" * 40 for i in range(60)),  # 50 KB: over two AI-bot messages
    table=Table(("客户", "单数"), tuple((f"客户{i}", str(i)) for i in range(80))),
    card=Card("长回复", buttons=(Button("知道了", "ack:1"),), task_id="long-1"),
)


INERT = str.maketrans("［］＜＞＃＊｀＠｜～", "[]<>#*`@|~")


def _norm(text: str) -> str:
    text = re.sub(r"^\(\d+/\d+\)$", "", text, flags=re.M)  # part numbering of split messages
    text = re.sub(r"\\(.)", r"\1", text)  # backslash escapes
    text = text.translate(INERT).replace("：//", "://")  # values made inert in markdown read the same
    return re.sub(r"\s+|\*\*|### |#### ", "", text)


def missing(reply: Reply, delivered: str) -> list[str]:
    """The lines of the sandbox's text of `reply` that are not in `delivered`."""
    got = _norm(delivered)
    return [line for line in reply_plain(reply).split("\n") if _norm(line) and _norm(line) not in got]


def _message_text(m: dict) -> str:
    """What a WeCom message shows: a markdown's or text's content, a template card's titles, subtitle and fields."""
    if m["msgtype"] in ("markdown", "text"):
        return m[m["msgtype"]].get("content", "")
    card = m.get("template_card") or {}
    title = card.get("main_title") or {}
    fields = [f"{f.get('keyname', '')}：{f.get('value', '')}" for f in card.get("horizontal_content_list", [])]
    return "\n".join([title.get("title", ""), title.get("desc", ""), card.get("sub_title_text", ""), *fields])


def _staff_for(route, config) -> str:
    return next(s.id for s in config.staff if allowed(route, frozenset(s.roles)))


@dataclass
class Ran:
    route: str
    reply: Reply
    who: str = ""


async def run_every_handler(bot, config, parser) -> list[Ran]:  # noqa: F811
    """Ask every chat intent's example (a write: also press its 确认), then press every button the replies offer,
    once per button handler, as someone allowed to."""
    out: list[Ran] = []
    for name, route in ROUTES.items():
        if name.startswith("action.") or name in NOT_CHAT:
            continue
        text = route.example.split(" / ")[0]
        understood = (_command(text) or (parser.parse(text, bot.clock()).name,))[0]
        assert name == "help" or understood == name, f"{name}: its example «{text}» is read as {understood}"
        who = _staff_for(route, config)
        reply = await bot.ask(who, text)
        out.append(Ran(name, reply, who))
        if reply.card and reply.card.buttons and reply.card.buttons[0].text == "确认":
            out.append(Ran(name, await bot.click(who, reply.card.buttons[0].key), who))
    pressed: set[str] = set()
    i = 0
    while i < len(out):  # replies of pressed buttons offer more buttons
        for button in out[i].reply.card.buttons if out[i].reply.card else ():
            name = "action." + button.key.partition(":")[0]
            if name in ROUTES and name not in pressed:
                pressed.add(name)
                out.append(Ran(name, await bot.click(out[i].who, button.key), out[i].who))
        i += 1
    for name, (who, key) in PRESSED.items():
        if name not in pressed:
            pressed.add(name)
            out.append(Ran(name, await bot.click(who, key)))
    never = sorted(n for n in ROUTES if n.startswith("action.") and n not in pressed)
    assert never == [], f"button handlers no reply offers and not in PRESSED: {never}"
    return out


class _Ignored:
    """The pipeline behind the long connection: callbacks pushed here only open req_ids to answer."""

    async def accept(self, event):
        return None


async def test_every_handlers_reply_arrives_whole_on_every_platform(bot, config, parser, wecom):  # noqa: F811
    ran = await run_every_handler(bot, config, parser)
    ran.append(Ran("long", LONG))
    fake_wecom, senders, _ = wecom
    async with (
        serving(ResponseUrls()) as urls,
        serving(FakeDingTalk()) as ding,
        serving(FakeAibotWs()) as ws_fake,
        aiohttp.ClientSession() as http,
    ):
        robot = senders["wecom_robot"]
        dingtalk = DingTalkSender(
            http,
            DingTalkApi(http, base=ding.base, app_key="dingkey", app_secret="dingsecret"),
            bot.db,
            MediaLinks("https://bot.example.com", b"k" * 32),
            bot.clock,
        )
        link = AibotWsClient(
            url=ws_fake.base.replace("http://", "ws://") + "/",
            bot_id=ws_fake.bot_id,
            secret=ws_fake.secret,
            pipeline=_Ignored(),
            http=http,
            clock=bot.clock,
        )
        link.start()
        await asyncio.wait_for(link.connected.wait(), 5)
        try:
            for i, r in enumerate(ran):
                where = f"{r.route} «{reply_plain(r.reply)[:40]}»"
                payload = r.reply.to_dict()
                # the WeCom app, 1:1
                fake_wecom.messages.clear()
                await senders["wecom"].send(f"user:U{i}", "reply", payload, {})
                app = "\n".join(_message_text(m) for m in fake_wecom.messages)
                assert missing(r.reply, app) == [], f"WeCom app lost lines of {where}"
                keys = [b.key for b in r.reply.card.buttons] if r.reply.card else []
                cards = [m["template_card"] for m in fake_wecom.messages if m["msgtype"] == "template_card"]
                assert [[b["key"] for b in c["button_list"]] for c in cards] == ([keys] if keys else []), where
                # the AI bot in callback mode, in a group with a 消息推送 webhook: stream, response_url, webhook
                streams = StreamStore()
                group = f"wrGROUP{i}"
                aibot = AibotSender(
                    http, mode="callback", streams=streams, fallback=robot, group_webhooks={group: f"K{i}"}
                )
                sid = f"s{i}"
                streams.open(sid)
                route = {
                    "mode": "callback",
                    "kind": "msg",
                    "stream": sid,
                    "user": f"U{i}",
                    "response_url": urls.mint("group"),
                }
                sending = asyncio.ensure_future(aibot.send(f"chat:{group}", "reply", {**payload, "_route": route}, {}))
                while not (frame := streams.poll(sid))["stream"]["finish"]:  # WeCom polling the open stream
                    await asyncio.sleep(0.005)
                await sending
                assert len(frame["stream"]["content"].encode()) <= STREAM_LIMIT
                assert [b["key"] for b in frame.get("template_card", {}).get("button_list", [])] == keys, where
                assert len(frame["stream"].get("msg_item", [])) == len(r.reply.charts), where
                later = [
                    b["markdown"]["content"]
                    for code, b in urls.received
                    if code == route["response_url"].rpartition("=")[2]
                ]
                hook = [
                    m.get("markdown", m.get("text", {})).get("content", "")
                    for m in fake_wecom.robot_messages.get(f"K{i}", [])
                ]
                assert missing(r.reply, "\n".join([frame["stream"]["content"], *later, *hook])) == [], (
                    f"AI bot (callback) lost lines of {where}"
                )
                # the AI bot over the long connection, 1:1
                body = {
                    "msgid": f"m{i}",
                    "aibotid": ws_fake.bot_id,
                    "chattype": "single",
                    "from": {"userid": f"U{i}"},
                    "msgtype": "text",
                    "text": {"content": "?"},
                }
                req = await ws_fake.push_callback(body)
                ws_route = {"mode": "ws", "kind": "msg", "stream": sid, "user": f"U{i}", "req_id": req}
                await aibot_ws(http, link).send(f"user:U{i}", "reply", {**payload, "_route": ws_route}, {})
                frames = [f.get("stream", f.get("markdown", {})).get("content", "") for f in ws_fake.answers(req)]
                assert missing(r.reply, "\n".join(frames)) == [], f"AI bot (long connection) lost lines of {where}"
                if r.route.startswith("action."):  # a button's answer, as the AI bot gives it: the card update
                    await _press_on_the_ai_bot(r.reply, i, where, http, aibot, link, urls, ws_fake, fake_wecom)
                # DingTalk, a group, through the robot OpenAPI
                ding.api_messages.clear()
                await dingtalk.send(f"group:cid{i}", "reply", payload, {})
                texts = [json.loads(b["msgParam"])["text"] for _, b in ding.api_messages]
                assert missing(r.reply, "\n".join(texts)) == [], f"DingTalk lost lines of {where}"
                # a WeCom group robot (消息推送)
                await robot.send(f"robot:R{i}", "reply", payload, {})
                texts = [
                    m.get("markdown", m.get("text", {})).get("content", "") for m in fake_wecom.robot_messages[f"R{i}"]
                ]
                assert missing(r.reply, "\n".join(texts)) == [], f"WeCom group robot lost lines of {where}"
            assert urls.refused == [] and ws_fake.errors == []
        finally:
            await link.stop()


async def _press_on_the_ai_bot(reply, i, where, http, aibot, link, urls, ws_fake, fake_wecom) -> None:
    """A button's answer on the AI bot: the card update (what the callback door answers within WeCom's 5 s, or
    the long connection's `aibot_respond_update_msg`), then what the outbox sends when the card cannot hold it
    all (`click_carries_all`): through the press's response_url and the group's webhook, or pushed 1:1."""
    payload = reply.to_dict()
    update = card_update(reply, "t", f"U{i}", None)
    shown = [_message_text({"msgtype": "template_card", "template_card": update["template_card"]})]
    if not click_carries_all(reply):
        fake_wecom.robot_messages.pop(f"K{i}", None)
        route = {
            "mode": "callback",
            "kind": "card",
            "task_id": "t",
            "user": f"U{i}",
            "response_url": urls.mint("group"),
        }
        await aibot.send(f"chat:wrGROUP{i}", "reply", {**payload, "_route": route}, {})
        code = route["response_url"].rpartition("=")[2]
        shown += [b["markdown"]["content"] for c, b in urls.received if c == code]
        shown += [_message_text(m) for m in fake_wecom.robot_messages.get(f"K{i}", []) if m["msgtype"] != "image"]
    assert missing(reply, "\n".join(shown)) == [], f"AI bot (callback) lost lines of the press {where}"
    click = {"card_type": "button_interaction", "event_key": "x", "task_id": "t"}
    event = {
        "msgid": f"e{i}",
        "aibotid": ws_fake.bot_id,
        "chattype": "single",
        "from": {"userid": f"U{i}"},
        "msgtype": "event",
        "event": {"eventtype": "template_card_event", "template_card_event": click},
    }
    req = await ws_fake.push_callback(event, "aibot_event_callback")
    pushed = len(ws_fake.pushes)
    route = {"mode": "ws", "kind": "card", "task_id": "t", "user": f"U{i}", "req_id": req}
    await aibot_ws(http, link).send(f"user:U{i}", "reply", {**payload, "_route": route}, {})
    (frame,) = ws_fake.answers(req)
    shown = [_message_text({"msgtype": "template_card", "template_card": frame["template_card"]})]
    shown += [p["markdown"]["content"] for p in ws_fake.pushes[pushed:] if p["msgtype"] == "markdown"]
    assert missing(reply, "\n".join(shown)) == [], f"AI bot (long connection) lost lines of the press {where}"


def aibot_ws(http, link) -> AibotSender:
    return AibotSender(http, mode="ws", ws=link)


async def test_the_comparison_can_fail():
    reply = Reply(text="第一行\n第二行", table=Table(("单号",), (("SO1",), ("SO2",))))
    assert missing(reply, "第一行\n第二行\n单号\n**SO1**") == ["SO2"]
    assert missing(reply, reply_plain(reply)) == []
