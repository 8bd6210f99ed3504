"""Issue 14's reading rules: traditional script, speech slips by pinyin, the new order references, names the
vocabulary does not hold, and `IntentParser.candidates` (the two closest readings the dispatcher offers)."""

from __future__ import annotations

from datetime import datetime

import pytest

from orderbot.bot.intents import CLARIFY_THRESHOLD, SLOTS, WRITE_INTENTS, IntentParser, Vocabulary
from orderbot.bot.intents.ids import find_batches, find_customer_ids, find_order_refs
from orderbot.bot.intents.names import CustomerDirectory
from orderbot.bot.intents.text import normalise

NOW = datetime.fromisoformat("2026-02-10T09:00:00+08:00")


@pytest.fixture
def parser(corpus_parser):
    return corpus_parser


@pytest.mark.parametrize(
    "written, meant",
    [
        ("海關", "海关"),
        ("倉庫", "仓库"),
        ("報表", "报表"),
        ("亞馬遜的凍結撤了吧", "亚马逊的冻结撤了吧"),
        ("ＴＯＰ３", "top3"),
        ("查看華東區昨日延遲TOP3客戶", "查看华东区昨日延迟top3客户"),
    ],
)
def test_traditional_and_full_width_forms_normalise(written, meant):
    assert normalise(written) == meant


def test_traditional_script_reads_like_simplified(parser):
    for traditional, simplified in [
        ("查看華東區昨日延遲TOP3客戶", "查看华东区昨日延迟TOP3客户"),
        ("海關卡住的訂單有哪些", "海关卡住的订单有哪些"),
        ("盤點 PB-20K-BLK 實際 480", "盘点 PB-20K-BLK 实际 480"),
    ]:
        assert parser.parse(traditional, NOW) == parser.parse(simplified, NOW)


@pytest.mark.parametrize(
    "text, ref",
    [
        ("#4343 到哪了", "#4343"),
        ("订单#1001什么状态", "#1001"),
        ("shopify # 10254", "#10254"),
        ("576512345678901234到哪了", "576512345678901234"),
        ("PO-211-08812345 物流", "PO-211-08812345"),
        ("temu的po-211-12345678", "PO-211-12345678"),
    ],
)
def test_the_new_order_reference_forms(text, ref):
    assert [f.value for f in find_order_refs(normalise(text))] == [ref]


@pytest.mark.parametrize("text", ["5765123456789012345", "1576512345678901234", "c#4343", "PO-12-3", "共4343单"])
def test_near_misses_are_not_references(text):
    assert find_order_refs(normalise(text)) == []


def test_customer_ids_and_batches():
    assert [f.value for f in find_customer_ids(normalise("C00059 的订单"))] == ["C00059"]
    assert find_customer_ids("sc00059") == []
    assert [f.value for f in find_batches(normalise("入库 PB-20K-BLK 500 批次B2612"))] == ["B2612"]
    assert [f.value for f in find_batches(normalise("received 450 batch no. b-2701"))] == ["B-2701"]


@pytest.mark.parametrize(
    "text, slot, value",
    [
        ("划南区昨天沿迟TOP3客户", "region", "华南"),
        ("话北区上周延迟客户", "region", "华北"),
        ("TikTok取销率趋势", "metric", "cancel_rate"),
        ("亚马讯今天多少单", "channel", "amazon"),
        ("王磊今天扫码准却率", "staff", "王磊"),
    ],
)
def test_slips_are_repaired_by_sound_with_lower_confidence(parser, text, slot, value):
    got = parser.parse(text, NOW)
    assert got.slots[slot] == value and got.repaired
    assert got.confidence < 0.97


def test_a_repair_needs_a_context_that_uses_the_word(parser):
    # 划南 sounds like 华南, but the pipeline report takes no region: the slip is left alone
    got = parser.parse("划南现在订单都卡在哪", NOW)
    assert got.name == "report.pipeline" and not got.repaired


def test_a_repair_never_turns_a_question_into_a_write(parser):
    # 动洁 sounds like 冻结; asked as a question it must not become the write
    got = parser.parse("亚马逊是不是动洁了吗", NOW)
    assert got.name not in WRITE_INTENTS


def test_real_words_are_never_repaired(parser):
    assert not parser.parse("现在订单都卡在哪", NOW).repaired
    assert parser.evidence("华南区昨天延迟客户").repairs == []


def test_an_unknown_staff_name_is_never_me(parser):
    got = parser.parse("王小明今天的扫码准确率", NOW)
    assert got.slots["staff"] == "王小明"
    assert "staff" in got.missing and got.unknown_names == ("staff",)
    assert got.needs_clarification
    known = parser.parse("刘洋今天的扫码准确率", NOW)
    assert known.slots["staff"] == "刘洋" and known.unknown_names == () and not known.missing
    assert parser.parse("我今天的扫码准确率", NOW).slots["staff"] == "me"


def test_customers_by_id_by_part_of_a_stored_name_or_as_written(parser):
    assert parser.parse("C00059 的订单到哪了", NOW).slots["customer"] == "C00059"
    part = parser.parse("某某贸易的订单", NOW)
    assert part.slots["customer"] == "杭州某某贸易" and part.unknown_names == ()
    stranger = parser.parse("上海某某公司的订单到哪了", NOW)
    assert (stranger.name, stranger.slots["customer"]) == ("customer.orders", "上海某某公司")
    assert stranger.unknown_names == ("customer",)
    assert parser.parse("亚马逊的订单到哪了", NOW).name != "customer.orders"  # a channel is not a customer


def test_customer_directory_matches_a_unique_part_only():
    directory = CustomerDirectory(("杭州某某贸易", "上海某某贸易", "华东精工"))
    assert directory.match("华东精工") == "华东精工"
    assert directory.match("精工") == "华东精工"
    assert directory.match("某某贸易") is None  # two customers: the handler asks which
    assert directory.match("北京") is None


def test_candidates_are_full_intents_best_first(parser):
    options = parser.candidates("亚马逊那个冻结", NOW, k=2)
    best = parser.parse("亚马逊那个冻结", NOW)
    assert options and options[0].to_json() == best.to_json()
    mixed = parser.candidates("延误的订单", NOW, k=2)
    assert len(mixed) == 2 and mixed[0].name != mixed[1].name
    for intent in mixed:
        assert intent.confidence <= mixed[0].confidence
        assert list(intent.slots) == list(SLOTS[intent.name])
    assert parser.candidates("今天中午吃什么", NOW) == []


def test_candidates_never_offer_the_write_a_sentence_negates(parser):
    for text in ("不要冻结亚马逊", "don't freeze amazon", "先别卡关SO202602010001"):
        names = [c.name for c in parser.candidates(text, NOW, k=3)]
        assert "channel.freeze" not in names and "order.hold_customs" not in names, (text, names)
        got = parser.parse(text, NOW)
        assert got.name not in WRITE_INTENTS or got.confidence < CLARIFY_THRESHOLD


@pytest.mark.parametrize(
    "text, intent, filter_",
    [
        ("昨天哪些单子延误了", "order.list", "delayed"),
        ("哪些单报关资料没齐", "order.list", "docs_missing"),
        ("今天清关卡住的单子有哪些", "order.list", "customs_stuck"),
        ("退货没入库的有哪些", "order.list", "returns_pending"),
    ],
)
def test_the_questions_that_failed_are_lists_not_writes(parser, text, intent, filter_):
    got = parser.parse(text, NOW)
    assert (got.name, got.slots["filter"]) == (intent, filter_)
    assert got.confidence >= CLARIFY_THRESHOLD


def test_a_vocabulary_of_twenty_thousand_customers(jieba_cache):
    customers = tuple(f"{city}{i:05d}贸易" for i, city in enumerate(["杭州", "深圳", "宁波", "义乌"] * 5000))
    parser = IntentParser(Vocabulary(customers=customers), cache_dir=jieba_cache)
    got = parser.parse("深圳00001贸易的订单", NOW)
    assert (got.name, got.slots["customer"]) == ("customer.orders", "深圳00001贸易")
