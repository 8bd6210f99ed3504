"""The parser as its callers use it: the INTENTS.md line, confidence and clarification, the CLI helpers."""

from __future__ import annotations

import json
import time
from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta, timezone, UTC

import pytest

from benchmarks.parse import bench_parse
from orderbot.bot.intents import (
    CLARIFY_THRESHOLD,
    INTENT_NAMES,
    SLOTS,
    Intent,
    IntentParser,
    Vocabulary,
    WRITE_INTENTS,
    format_parse_line,
    load_vocabulary,
    main_parse,
)
from orderbot.core.models import Customer, Product, Staff


NOW = datetime.fromisoformat("2026-02-10T09:00:00+08:00")
EXAMPLE_LINE = (
    '{"intent": "report.top_delayed_customers", "slots": {"region": "华东", "province": null, '
    '"date_from": "2026-02-09", "date_to": "2026-02-09", "limit": 3}, "confidence": 0.97}'
)


@pytest.fixture
def parser(corpus_parser):
    return corpus_parser


def test_the_intents_md_example_line(parser):
    assert format_parse_line(parser.parse("查看华东区昨日延迟TOP3客户", NOW)) == EXAMPLE_LINE


def test_main_parse_yields_one_line_per_non_blank_text(parser):
    lines = list(main_parse(["查看华东区昨日延迟TOP3客户\n", "  ", "日报"], NOW, parser=parser))
    assert lines[0] == EXAMPLE_LINE
    assert json.loads(lines[1]) == {"intent": "report.daily", "slots": {"date": "2026-02-09"}, "confidence": 0.97}
    assert len(lines) == 2


@pytest.mark.parametrize("intent", INTENT_NAMES)
def test_every_intent_lists_every_slot_in_table_order(parser, intent):
    slots = dict.fromkeys(SLOTS[intent])
    line = json.loads(Intent(intent, slots, 0.5).to_json())
    assert list(line) == ["intent", "slots", "confidence"]
    assert list(line["slots"]) == list(SLOTS[intent])


def test_intent_is_frozen_and_validated():
    intent = Intent("report.pipeline", {"channel": "amazon"}, 0.9)
    with pytest.raises(FrozenInstanceError):
        intent.name = "help"
    with pytest.raises(TypeError):
        intent.slots["channel"] = "temu"
    with pytest.raises(ValueError):
        Intent("report.pipeline", {}, 0.9)  # a slot missing
    with pytest.raises(ValueError):
        Intent("report.pipeline", {"channel": None}, 1.5)
    with pytest.raises(ValueError):
        Intent("report.nonsense", {}, 0.5)


def test_now_must_be_aware(parser):
    with pytest.raises(ValueError):
        parser.parse("日报", datetime(2026, 2, 10, 9, 0))


def test_dates_are_taken_in_shanghai(parser):
    # 17:00 UTC on 9 February is already 10 February in Shanghai
    got = parser.parse("昨天的日报", datetime(2026, 2, 9, 17, 0, tzinfo=UTC))
    assert got.slots["date"] == "2026-02-09"
    got = parser.parse("今天的日报", datetime(2026, 2, 10, 1, 0, tzinfo=timezone(timedelta(hours=-8))))
    assert got.slots["date"] == "2026-02-10"


def test_limit_is_capped_at_20(parser):
    assert parser.parse("延迟客户TOP50", NOW).slots["limit"] == 20
    assert parser.parse("延迟原因前100", NOW).slots["limit"] == 20


@pytest.mark.parametrize(
    "text, intent, missing",
    [
        ("改一下预计交付", "order.set_eta", ("order_ref", "eta")),
        ("SO202602010001 预计交付改一下", "order.set_eta", ("eta",)),
        ("预计交付改到3月5日", "order.set_eta", ("order_ref",)),
        ("SO202602010001 交期推迟3天", "order.set_eta", ("eta",)),  # relative to an ETA we do not know: ask
        ("SO202602010001 交期改成3月1日到3月5日", "order.set_eta", ("eta",)),  # a range is not a date
        ("卡关", "order.hold_customs", ("order_ref",)),
        ("解除卡关", "order.release_customs", ("order_ref",)),
        ("冻结渠道", "channel.freeze", ("channel",)),
        ("解冻", "channel.unfreeze", ("channel",)),
        ("静默告警", "alert.mute", ("rule",)),
        ("恢复告警", "alert.unmute", ("rule",)),
        ("库存", "inventory.query", ("sku",)),
        ("查单", "order.lookup", ("order_ref",)),
    ],
)
def test_a_missing_required_slot_is_listed_never_guessed(parser, text, intent, missing):
    got = parser.parse(text, NOW)
    assert got.name == intent
    assert got.missing == missing
    assert all(got.slots[s] is None for s in missing)
    assert got.confidence < CLARIFY_THRESHOLD
    assert got.needs_clarification


@pytest.mark.parametrize(
    "text",
    [
        "延迟",  # customers, reasons or a trend?
        "恢复",  # a channel or an alert?
        "暂停",
        "取消率",
        "SO202602010001 卡关了吗",  # a question, not an instruction
        "SO202602010001 SO202602010002 卡关",  # two orders for one write
        "SO202602010001 SO202602010002 预计交付改为3月5日",
    ],
)
def test_ambiguous_texts_get_low_confidence(parser, text):
    got = parser.parse(text, NOW)
    assert got.confidence < CLARIFY_THRESHOLD, got.to_json()
    assert got.needs_clarification


@pytest.mark.parametrize(
    "text",
    [
        "查看华东区昨日延迟TOP3客户",
        "SO202602010001 卡关",
        "冻结TikTok渠道",
        "静默取消率告警2小时",
        "日报",
        "SO202602010001 预计交付改为3月5日",
        "where is order SO202602010001",
        "help",
    ],
)
def test_clear_commands_get_high_confidence(parser, text):
    got = parser.parse(text, NOW)
    assert got.confidence >= 0.9 and not got.needs_clarification, got.to_json()


@pytest.mark.parametrize("text", ["今天中午吃什么", "你好", "lol", "", "   ", "！！！", "华东区"])
def test_unknown_has_no_slots(parser, text):
    got = parser.parse(text, NOW)
    assert (got.name, dict(got.slots), got.confidence) == ("unknown", {}, 0.0)
    assert format_parse_line(got) == '{"intent": "unknown", "slots": {}, "confidence": 0.0}'


def test_closest_intents_for_suggestions(parser):
    assert set(parser.closest_intents("恢复", None, k=2)) == {"channel.unfreeze", "alert.unmute"}
    assert parser.closest_intents("延迟", None, k=3)[:2] == ["report.top_delayed_customers", "report.delay_reasons"]
    # nothing matches: the most used intents this person may use
    assert len(parser.closest_intents("今天中午吃什么", None)) == 3
    allowed = {"order.lookup", "help", "report.daily"}
    picks = parser.closest_intents("冻结 暂停", allowed, k=3)
    assert set(picks) <= allowed and len(picks) == 3


def test_alternatives_name_the_runners_up(parser):
    got = parser.parse("暂停", NOW)
    assert got.name == "channel.freeze" and "alert.mute" in got.alternatives


def test_write_intents_are_marked(parser):
    assert parser.parse("冻结TikTok渠道", NOW).is_write
    assert not parser.parse("日报", NOW).is_write
    assert WRITE_INTENTS == {
        "order.set_eta",
        "order.hold_customs",
        "order.release_customs",
        "channel.freeze",
        "channel.unfreeze",
        "alert.mute",
        "alert.unmute",
        "order.release_review",
        "stock.receive",
        "stock.count",
    }


def test_customer_names_do_not_read_as_regions(parser):
    got = parser.parse("华东精工的单子SO202602010006到哪了", NOW)
    assert (got.name, got.slots["order_ref"]) == ("order.lookup", "SO202602010006")
    top = parser.parse("东北老铁五金 华南 延迟客户", NOW)
    assert (top.slots["region"], top.slots["province"]) == ("华南", None)


def test_products_by_name_and_staff_by_name(parser):
    assert parser.parse("蓝牙耳机 白 还剩多少", NOW).slots["sku"] == "EB-TWS-WHT"
    assert parser.parse("耳机库存", NOW).slots["sku"] is None  # a partial name is not a product: ask
    assert parser.parse("周敏今天扫码准确率", NOW).slots["staff"] == "周敏"
    assert parser.parse("zhoumin scan accuracy", NOW).slots["staff"] == "周敏"


def test_first_message_is_as_fast_as_any(parser):
    started = time.perf_counter()
    parser.parse("查看华南区上周延迟前五客户", NOW)
    assert time.perf_counter() - started < 0.05  # jieba was initialised by the constructor


def test_warm_up_runs_the_samples(parser):
    assert parser.warm_up() < 2.0


def test_bench_parse_reports_a_rate(parser):
    result = bench_parse(300, parser=parser)
    assert result["messages"] == 300 and result["per_second"] > 0
    assert set(result) >= {"seconds", "per_second", "us_per_message", "init_seconds", "target_per_second", "ok"}


async def test_load_vocabulary_reads_master_data(db, clock, jieba_cache):
    async with db.write() as s:
        s.add(Customer(id="C9", name="宁波海曙进出口", province="浙江", region="华东", created_at=clock()))
        s.add(Product(sku="LMP-USB-GRN", name="USB 台灯 绿", category="灯具"))
        s.add(Staff(id="lisi", name="李四", roles=["warehouse"]))
    async with db.read() as s:
        vocabulary = await load_vocabulary(s)
    assert vocabulary.customers == ("宁波海曙进出口",)
    assert vocabulary.products == (("LMP-USB-GRN", "USB 台灯 绿"),)
    assert vocabulary.staff == (("lisi", "李四"),)
    parser = IntentParser(vocabulary, cache_dir=jieba_cache)
    assert parser.parse("李四本周扫码统计", NOW).slots["staff"] == "李四"
    assert parser.parse("USB台灯绿 库存", NOW).slots["sku"] == "LMP-USB-GRN"
    assert Vocabulary.static().customers == ()
