"""The words of confirming and asking back: typed answers, the asker's language, generic previews."""

from __future__ import annotations

import pytest

from orderbot.bot.confirm import Reading, describe, dump, load, typed_answer
from orderbot.bot.dispatch import language
from orderbot.bot.handlers.base import route


@pytest.mark.parametrize(
    "text, answer",
    [
        ("1", 1),
        (" 1。", 1),
        ("２", 2),
        ("2", 2),
        ("0", 0),
        ("确认", "yes"),
        ("好的", "yes"),
        ("OK", "yes"),
        ("取消", "no"),
        ("算了！", "no"),
        ("cancel", "no"),
        ("12", None),
        ("确认冻结TikTok", None),
        ("", None),
    ],
)
def test_typed_answers(text, answer):
    assert typed_answer(text) == answer


@pytest.mark.parametrize(
    "text, lang",
    [
        ("what can you do", "en"),
        ("help", "en"),
        ("帮助", "zh"),
        ("TikTok这个月取消率多少", "zh"),
        ("1", "zh"),
        ("SO202602010001", "en"),
    ],
)
def test_language_of_a_message(text, lang):
    assert language(text) == lang


async def _noop(arg, ctx):
    return None


def test_generic_preview_names_every_given_slot_in_words():
    receive = route("stock.receive", _noop, {"warehouse"}, write=True, title="入库", example="入库 PB-20K-BLK 500")
    reading = Reading("stock.receive", {"sku": "PB-20K-BLK", "qty": 500, "batch": None})
    assert describe(receive, reading) == "入库（SKU PB-20K-BLK，数量 500）"
    freeze = route("channel.freeze", _noop, None, write=True, title="冻结渠道新订单", example="")
    assert describe(freeze, Reading("channel.freeze", {"channel": "tiktok"})) == "冻结渠道新订单（渠道 TikTok Shop）"
    eta = route("order.set_eta", _noop, None, write=True, title="改交付", example="")
    assert (
        describe(eta, Reading("order.set_eta", {"order_ref": "SO1", "eta": "2026-03-05"}))
        == "改交付（订单 SO1，新交付日期 3月5日）"
    )


def test_slot_values_are_said_in_words():
    trend = route("report.trend", _noop, None, title="看趋势", example="")
    reading = Reading(
        "report.trend", {"metric": "delayed", "date_from": "2026-02-09", "date_to": "2026-02-09", "channel": None}
    )
    assert describe(trend, reading) == "看趋势（指标 延迟单，从 2月9日，到 2月9日）"
    listing = route("order.list", _noop, None, title="查有问题的订单", example="")
    assert (
        describe(listing, Reading("order.list", {"filter": "customs_stuck"})) == "查有问题的订单（类别 清关卡住的订单）"
    )


def test_readings_survive_json():
    name, arg = load(dump("channel.freeze", Reading("channel.freeze", {"channel": "temu"})))
    assert name == "channel.freeze" and dict(arg.slots) == {"channel": "temu"}
    assert load(dump("duty.set", "赵强")) == ("duty.set", "赵强")
