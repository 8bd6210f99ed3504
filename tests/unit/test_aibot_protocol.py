"""The WeCom AI bot's protocol pieces without a network: the JSON-envelope crypto (against wechatpy's
implementation of the same algorithm), callback parsing, and the stream store."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, UTC

import pytest
from wechatpy.crypto import PrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto

from orderbot.messaging.reply import Button, Card, Reply
from orderbot.messaging.aibot_streams import PLACEHOLDER, StreamStore
from orderbot.messaging.inbound import CardAction, ChatMessage, EnterAgent, Feedback, event_from_dict, event_to_dict
from orderbot.messaging.senders.wecom_aibot import card_update, stream_reply, task_id_for
from orderbot.webhooks.aibot_crypto import AibotCrypto, CryptoError, signature
from orderbot.webhooks.aibot_msg import BadMessage, StreamPoll, Unreadable, strip_mention, to_event

TOKEN, KEY = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
NOW = datetime(2026, 12, 3, tzinfo=UTC)


def test_crypto_matches_wechatpy_both_ways():
    ours = AibotCrypto(TOKEN, KEY)
    theirs = WeChatCrypto(TOKEN, KEY, "")
    plain = '{"msgid":"m1","text":{"content":"查单 SO202602010001"}}'
    assert ours.decrypt(PrpCrypto(theirs.key).encrypt(plain, "").decode()) == plain
    encrypted = ours.encrypt(plain)
    sig = signature(TOKEN, "1700000000", "n1", encrypted)
    assert theirs.decrypt_message({"Encrypt": encrypted}, sig, "1700000000", "n1") == plain
    envelope = ours.seal_reply({"msgtype": "stream"}, "n1", 1700000000)
    assert envelope["nonce"] == "n1" and ours.open_reply(envelope) == {"msgtype": "stream"}


def test_crypto_refuses_wrong_key_receive_id_and_garbage():
    ours = AibotCrypto(TOKEN, KEY)
    with pytest.raises(CryptoError):
        AibotCrypto(TOKEN, "a" * 43).decrypt(ours.encrypt("x"))
    with pytest.raises(CryptoError, match="receive id"):
        ours.decrypt(AibotCrypto(TOKEN, KEY, "wwcorp").encrypt("x"))
    for garbage in ("not base64!", base64.b64encode(b"short").decode(), ""):
        with pytest.raises(CryptoError):
            ours.decrypt(garbage)
    assert not ours.signed("0" * 40, "1", "n", "enc")


def _msg(**over):
    body = {
        "msgid": "m1",
        "aibotid": "aib1",
        "chatid": "g1",
        "chattype": "group",
        "from": {"userid": "WangLei"},
        "response_url": "https://x/r?c=1",
        "msgtype": "text",
        "text": {"content": "@OrderBot 查单 SO1"},
    }
    body.update(over)
    return body


def test_messages_map_to_chat_messages_with_their_route():
    event = to_event(_msg(), mode="callback", received=NOW, bot_name="OrderBot")
    assert isinstance(event, ChatMessage) and event.text == "查单 SO1" and event.origin.chat_id == "g1"
    route = dict(event.origin.reply_route)
    assert route["response_url"] == "https://x/r?c=1" and route["kind"] == "msg" and route["stream"].startswith("s")
    assert event.origin.reply_to == "chat:g1" and event.dedupe_key == "msg:m1"
    assert event_from_dict(event_to_dict(event)) == event
    mixed = to_event(
        _msg(
            msgtype="mixed",
            mixed={
                "msg_item": [
                    {"msgtype": "text", "text": {"content": "@OrderBot 看"}},
                    {"msgtype": "image", "image": {"url": "u"}},
                    {"msgtype": "text", "text": {"content": "这单"}},
                ]
            },
            quote={"msgtype": "text", "text": {"content": "SO202602010001"}},
        ),
        mode="ws",
        received=NOW,
        bot_name="OrderBot",
        req_id="R1",
    )
    assert (
        mixed.text == "看 这单" and mixed.quote == "SO202602010001" and dict(mixed.origin.reply_route)["req_id"] == "R1"
    )
    voice = to_event(
        _msg(chattype="single", chatid=None, msgtype="voice", voice={"content": "库存多少"}),
        mode="callback",
        received=NOW,
    )
    assert voice.is_voice and voice.text == "库存多少" and voice.origin.reply_to == "user:WangLei"
    assert isinstance(to_event(_msg(msgtype="image", image={"url": "u"}), mode="callback", received=NOW), Unreadable)
    assert to_event({"msgtype": "stream", "stream": {"id": "s1"}}, mode="callback", received=NOW) == StreamPoll("s1")
    assert strip_mention("hello@OrderBot ", "OrderBot") == "hello"
    assert strip_mention("@OrderBot2 在吗", "OrderBot") == "@OrderBot2 在吗"


def test_events_and_bad_callbacks():
    click = to_event(
        _msg(
            msgtype="event",
            event={
                "eventtype": "template_card_event",
                "template_card_event": {
                    "card_type": "button_interaction",
                    "event_key": "alert_ack:7",
                    "task_id": "t-1",
                    "selected_items": {
                        "selected_item": [{"question_key": "q", "option_ids": {"option_id": ["a", "b"]}}]
                    },
                },
            },
        ),
        mode="callback",
        received=NOW,
    )
    assert isinstance(click, CardAction) and click.key == "alert_ack:7" and click.selections == {"q": ("a", "b")}
    assert dict(click.origin.reply_route)["task_id"] == "t-1"
    enter = to_event(
        _msg(chattype="single", chatid=None, msgtype="event", event={"eventtype": "enter_chat"}),
        mode="callback",
        received=NOW,
    )
    assert isinstance(enter, EnterAgent)
    fb = to_event(
        _msg(
            msgtype="event",
            event={
                "eventtype": "feedback_event",
                "feedback_event": {"id": "f1", "type": 2, "content": "不对", "inaccurate_reason_list": [1, 4]},
            },
        ),
        mode="callback",
        received=NOW,
    )
    assert isinstance(fb, Feedback) and (fb.rating, fb.reasons) == (2, (1, 4))
    assert event_from_dict(event_to_dict(fb)) == fb
    for bad in (
        {"msgtype": "text"},
        _msg(**{"from": {}}),
        _msg(chatid=None),
        [1, 2],
        _msg(msgtype="mixed", mixed={}),
        _msg(msgtype="event", event={"eventtype": "template_card_event"}),
    ):
        with pytest.raises(BadMessage):
            to_event(bad, mode="callback", received=NOW)


async def test_stream_store_counts_an_answer_delivered_only_when_polled():
    now = [0.0]
    store = StreamStore(clock=lambda: now[0], window=330)
    store.open("s1")
    assert store.poll("s1")["stream"] == {"id": "s1", "finish": False, "content": PLACEHOLDER}
    now[0] = 5
    assert "已用 5 秒" in store.poll("s1")["stream"]["content"]
    taken = store.finish("s1", {"id": "s1", "finish": True, "content": "答案"})
    assert not taken.done() and store.live("s1")
    assert store.poll("s1")["stream"]["content"] == "答案" and taken.done() and not store.live("s1")
    assert store.poll("unknown")["stream"]["finish"]
    store.open("s2")
    now[0] = 400
    assert not store.live("s2")
    await asyncio.sleep(0)


def test_button_cards_and_their_update():
    reply = Reply(
        text="第一行摘要\n第二行细节",
        card=Card("冻结", buttons=(Button("撤销冻结", "unfreeze:x", 4),), task_id="freeze x/1"),
    )
    body, card, rest = stream_reply(reply, "s1", "seed")
    # the card's subtitle is the first line, with … since more went in the stream before it
    assert "第二行细节" in body["content"] and rest == [] and card["sub_title_text"] == "第一行摘要…"
    assert card["task_id"] == "freeze_x_1" and task_id_for(None, "a") == task_id_for(None, "a")
    refused = card_update(Reply(text="你的角色不能操作"), "freeze_x_1", "WangLei", card)
    assert refused["userids"] == ["WangLei"] and refused["template_card"]["button_list"] == card["button_list"]
    done = card_update(Reply(text="王磊 已解冻", meta={"subject": "x"}), "freeze_x_1", "HePing", card)
    assert "userids" not in done and done["template_card"]["button_list"][0]["text"] == "已处理"


def test_a_click_answered_with_a_list_and_its_own_buttons_is_for_everyone_and_keeps_them():
    from orderbot.messaging.reply import Table
    from orderbot.messaging.senders.wecom_aibot import click_carries_all

    pressed = {"card_type": "button_interaction", "main_title": {"title": "解冻"}, "button_list": [{"key": "x"}]}
    listing = Reply(
        title="待审核订单（Temu）",
        text="共 2 单：",
        table=Table(("订单号",), (("SO1",), ("SO2",))),
        card=Card("Temu待审核订单 2 单", buttons=(Button("放行 SO1", "release_one:SO1"),), task_id="held-1"),
    )
    update = card_update(listing, "unfreeze_1", "SunLi", pressed)
    card = update["template_card"]
    assert "userids" not in update and not click_carries_all(listing)  # the table follows in the chat
    assert card["sub_title_text"] == "待审核订单（Temu）：共 2 单：…" and card["task_id"] == "unfreeze_1"
    assert [b["key"] for b in card["button_list"]] == ["release_one:SO1"]
    short = Reply(text="王磊 已解冻 Temu 渠道", meta={"subject": "temu"})
    assert (
        click_carries_all(short)
        and card_update(short, "t", "SunLi", pressed)["template_card"]["sub_title_text"] == short.text
    )
    refusal = card_update(Reply(text="这个按钮由渠道运营处理，你的角色不能操作。"), "t", "SunLi", pressed)
    assert refusal["userids"] == ["SunLi"] and refusal["template_card"]["button_list"] == [{"key": "x"}]


def test_card_values_from_outside_are_plain_one_line_text_on_the_app_and_the_ai_bot():
    from orderbot.messaging.markup import OPEN, outside
    from orderbot.messaging.senders.wecom import template_card as app_card

    hostile = "杭州\n某某\x07贸易" + OPEN  # a customer name with a line break, a control character, a marker
    reply = Reply(
        text=f"**客户** {outside(hostile)}\n第二行",
        markdown=True,
        card=Card(
            f"复核 {outside(hostile)}",
            description=hostile,
            fields=((hostile, hostile),),
            buttons=(Button(hostile, "ack:1"),),
            task_id="t1",
        ),
    )
    for card in (app_card(reply, 1000002), stream_reply(reply, "s1", "seed")[1]):
        texts = [
            card["main_title"]["title"],
            card["main_title"]["desc"],
            card["sub_title_text"],
            *(f[k] for f in card["horizontal_content_list"] for k in ("keyname", "value")),
            card["button_list"][0]["text"],
        ]
        assert all(not set(t) & {"\n", "\x07", OPEN, "*"} for t in texts), texts
        assert card["main_title"]["title"] == "复核 杭州 某某贸易" and card["sub_title_text"] == "客户 杭州…"


def test_a_file_the_ai_bot_cannot_send_is_named_not_dropped():
    from orderbot.messaging.reply import Attachment

    reply = Reply(text="证据包已生成", files=(Attachment("延迟证据.xlsx", b"x"),), meta={"subject": "e"})
    body, _, _ = stream_reply(reply, "s1", "seed")
    assert "附件「延迟证据.xlsx」无法经智能机器人发送" in body["content"]
    assert "企业微信应用 OrderBot 里发同样的话获取" in body["content"]  # where to get it
    sub = card_update(reply, "t", "SunLi", None)["template_card"]["sub_title_text"]
    assert sub.startswith("证据包已生成\n") and "「延迟证据.xlsx」" in sub and len(sub) <= 112


def test_a_file_note_keeps_its_place_in_a_long_card_update():
    note = "（附件「a.xlsx」有 25.0 MB…）"
    long = Reply(text="已导出 12 单的索赔证据：" + "很长的文件名" * 20, meta={"files_notes": [note]})
    sub = card_update(long, "t", "SunLi", None)["template_card"]["sub_title_text"]
    assert len(sub) <= 112 and sub.endswith("\n" + note) and sub.startswith("已导出 12 单")


def test_a_file_name_from_outside_is_inert_in_the_note():
    from orderbot.messaging.reply import Attachment

    hostile = Attachment("证据_[点我](http://evil.example)_<@all>.xlsx", b"x" * 10)
    body, _, _ = stream_reply(Reply(text="证据包已生成", files=(hostile,)), "s1", "seed")
    note = body["content"].split("\n\n", 1)[1]
    assert "无法经智能机器人发送" in note and not any(c in note for c in "[]<>@") and "://" not in note


def test_what_is_pushed_for_an_answer_frame_refused_as_too_late():
    from orderbot.messaging.senders.wecom_aibot import STREAM_LIMIT, expired_pushes

    image = {"msgtype": "image", "image": {"base64": "eA==", "md5": "x"}}
    stream = {"msgtype": "stream", "stream": {"id": "s1", "finish": True, "content": "答案", "msg_item": [image] * 2}}
    [push] = expired_pushes(stream, "chat:wrG")
    assert (push["chatid"], push["chat_type"], push["msgtype"]) == ("wrG", 2, "markdown")
    assert push["markdown"]["content"] == "答案\n\n（2 张图表没能随这条超时的回答发出，请重新提问查看）"
    full = {"msgtype": "stream", "stream": {"id": "s1", "content": "字" * (STREAM_LIMIT // 3), "msg_item": [image]}}
    first, note = expired_pushes(full, "user:WangLei")  # the note does not fit: it goes on its own, no word lost
    assert first["markdown"]["content"] == "字" * (STREAM_LIMIT // 3) and "1 张图表" in note["markdown"]["content"]
    card = {"msgtype": "template_card", "template_card": {"card_type": "button_interaction", "task_id": "t"}}
    assert expired_pushes(card, "chat:wrG") == []  # cards are pushed 1:1 only; never an empty markdown instead
    [pushed] = expired_pushes(card, "user:WangLei")
    assert pushed["msgtype"] == "template_card" and pushed["chat_type"] == 1
    assert expired_pushes({"msgtype": "markdown", "markdown": {"content": "续篇"}}, "chat:wrG")[0]["markdown"] == {
        "content": "续篇"
    }
