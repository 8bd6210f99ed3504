"""Polarity first (INTENTS.md): every write intent × every polarity form × both word orders, Chinese and English.

A sentence that negates or undoes a write is never that write. An invertible write (freeze, customs hold, mute)
undone or wrapped in 别…了 / 不用…了 reads as its inverse; a bare negation (不要冻结, don't freeze) reads as the
inverse only below the clarification threshold, so the bot asks. A write with no inverse (an ETA change, a
receipt, a count, a release, an approval) negated or undone is no write at all.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from orderbot.bot.intents import CLARIFY_THRESHOLD, WRITE_INTENTS

NOW = datetime.fromisoformat("2026-02-10T09:00:00+08:00")
SO = "SO202602010001"

# each write intent said plainly, in two word orders per language: (chinese, english)
PLAIN: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "channel.freeze": (("冻结亚马逊", "亚马逊冻结"), ("freeze amazon", "the amazon freeze")),
    "order.hold_customs": (
        (f"{SO}转人工清关", f"{SO}的卡关"),
        (f"put {SO} on customs hold", f"the customs hold on {SO}"),
    ),
    "alert.mute": (("静默取消率告警", "取消率告警静默"), ("mute cancel_rate alerts", "the cancel_rate mute")),
    "channel.unfreeze": (("解冻亚马逊", "亚马逊解冻"), ("unfreeze amazon", "the amazon unfreeze")),
    "order.release_customs": ((f"放行{SO}", f"{SO}解除卡关"), (f"release {SO}", f"the release of {SO}")),
    "alert.unmute": (("取消静默取消率告警", "取消率告警恢复推送"), ("unmute cancel_rate", "cancel_rate unmute")),
    "order.set_eta": (
        (f"把{SO}的交期改成3月5日", f"{SO}预计交付改为3月5日"),
        (f"change the ETA of {SO} to March 5", f"{SO} ETA change to March 5"),
    ),
    "order.release_review": ((f"审核通过{SO}", f"{SO}审核通过"), (f"approve {SO}", f"{SO} approval")),
    "stock.receive": (
        ("入库PB-20K-BLK 500个", "PB-20K-BLK 500个入库"),
        ("receive 500 PB-20K-BLK", "PB-20K-BLK 500 received"),
    ),
    "stock.count": (
        ("盘点PB-20K-BLK实际480", "PB-20K-BLK实际480的盘点"),
        ("stock count PB-20K-BLK 480", "PB-20K-BLK 480 stock count"),
    ),
}
INVERSE = {
    "channel.freeze": "channel.unfreeze",
    "order.hold_customs": "order.release_customs",
    "alert.mute": "alert.unmute",
}

# polarity forms: (template, strength). "strong" undoes or stops the action; "weak" is a bare negation.
CN_FORMS = [
    ("取消{x}", "strong"),
    ("解除{x}", "strong"),
    ("撤销{x}", "strong"),
    ("{x}撤了吧", "strong"),
    ("{x}撤销", "strong"),
    ("{x}取消掉", "strong"),
    ("别{x}了", "strong"),
    ("不用{x}了", "strong"),
    ("{x}不用了", "strong"),
    ("{x}撤回", "strong"),
    ("不要{x}", "weak"),
    ("先别{x}", "weak"),
]
EN_FORMS = [
    ("undo {x}", "strong"),
    ("cancel {x}", "strong"),
    ("lift {x}", "strong"),
    ("{x} lifted", "strong"),
    ("{x} undone", "strong"),
    ("don't {x}", "weak"),
    ("do not {x}", "weak"),
    ("no need to {x}", "weak"),
]
# English nouns ("the amazon freeze") only go with undo forms; verbs ("freeze amazon") with every form
_EN_NOUN_FORMS = {"undo {x}", "cancel {x}", "lift {x}", "{x} lifted", "{x} undone"}


def _cases():
    for intent, (chinese, english) in PLAIN.items():
        for x in chinese:
            for form, strength in CN_FORMS:
                yield intent, form.format(x=x), strength
        for i, x in enumerate(english):
            for form, strength in EN_FORMS:
                if i == 1 and form not in _EN_NOUN_FORMS:
                    continue
                if i == 0 and form == "{x} undone":
                    continue
                yield intent, form.format(x=x), strength


CASES = list(_cases())


@pytest.fixture
def parser(corpus_parser):
    return corpus_parser


def test_the_matrix_covers_every_write_intent():
    assert {intent for intent, _, _ in CASES} == WRITE_INTENTS
    assert len(CASES) >= 250


@pytest.mark.parametrize("intent, plain", [(i, x) for i, (cn, en) in PLAIN.items() for x in (*cn, *en[:1])])
def test_the_plain_forms_are_the_write(parser, intent, plain):
    """Without the polarity word each base phrase is the write itself, so the matrix below tests polarity."""
    assert parser.parse(plain, NOW).name == intent


@pytest.mark.parametrize("intent, text, strength", CASES)
def test_a_negated_or_undone_write_is_never_that_write(parser, intent, text, strength):
    got = parser.parse(text, NOW)
    assert got.name != intent, f"{text!r} read as the write it negates: {got.to_json()}"
    if intent in INVERSE:
        if strength == "strong":
            assert got.name == INVERSE[intent], f"{text!r}: {got.to_json()}"
        else:
            assert got.name not in WRITE_INTENTS or got.confidence < CLARIFY_THRESHOLD, got.to_json()
    else:
        assert got.name not in WRITE_INTENTS, f"{text!r} negates a write but reads as one: {got.to_json()}"


@pytest.mark.parametrize(
    "text, intent",
    [
        ("亚马逊的冻结撤了吧", "channel.unfreeze"),
        ("别冻结eBay了", "channel.unfreeze"),
        ("这单SO202602010001的人工清关不用了", "order.release_customs"),
        ("SO202602010001 卡关撤销", "order.release_customs"),
        ("亞馬遜的凍結撤了吧", "channel.unfreeze"),
    ],
)
def test_the_intents_md_examples(parser, text, intent):
    assert parser.parse(text, NOW).name == intent


@pytest.mark.parametrize(
    "text",
    [
        "取消率告警静默2小时",
        "静默取消率告警",
        "TikTok这个月取消率多少",
        "冻结TikTok渠道",
        "SO202602010001 卡关",
        "不接TikTok的单了",
        "先别接temu的单",
    ],
)
def test_words_that_look_like_markers_are_not(parser, text):
    """取消率 is a metric, 不接/先别接 are freeze words: none of them flips anything."""
    got = parser.parse(text, NOW)
    assert got.name not in {"channel.unfreeze", "order.release_customs", "alert.unmute"}, got.to_json()


def test_a_second_clause_does_not_reach_back(parser):
    got = parser.parse("亚马逊先冻结，明天再说", NOW)
    assert got.name == "channel.freeze"
