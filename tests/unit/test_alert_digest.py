"""Digest cards: the title counts only what is there (never "0 条"), and one 全部知道了 covers every rule in it."""

from __future__ import annotations

from datetime import datetime, UTC

from orderbot.bot.alerting import digest_reply
from orderbot.core.rules.engine import Notice

NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)


def _n(kind: str, i: int, rule: str = "customs_stuck", label: str = "卡关") -> Notice:
    return Notice(
        kind,
        i,
        rule,
        label,
        f"SO{i}",
        f"SO{i} 清关超过 48 小时无进展",
        (),
        None,
        None,
        note="已放行" if kind == "resolved" else None,
    )


def test_a_digest_of_recoveries_only_has_no_zero_count_title():
    reply = digest_reply([_n("resolved", i) for i in range(1, 6)], NOW)
    assert reply.title == "告警恢复：5 条已恢复（卡关）"
    assert "0 条" not in reply.text and not reply.card.buttons  # nothing to acknowledge


def test_a_mixed_digest_counts_both_and_acknowledges_each_rule_once():
    notices = [_n("firing", 1), _n("firing", 2, "repeat_orders", "重复下单"), _n("resolved", 3)]
    reply = digest_reply(notices, NOW)
    assert reply.title == "告警汇总：2 条告警，1 条已恢复（卡关、重复下单）"
    ack = [b.key for b in reply.card.buttons if b.text == "全部知道了"]
    assert ack == [f"alert_ack_all:*:{int(NOW.timestamp())}"]


def test_a_digest_offers_a_button_only_where_the_card_has_one():
    """Eight repeat-order alerts whose tag was set: 撤销 fits for the first five; the others say no button."""
    action = {"kind": "tag_customer", "tag": "急单试探"}
    notices = [
        Notice("firing", i, "repeat_orders", "重复下单", f"C{i}", f"C{i} 72 小时内下单 4 次", (), action, "done")
        for i in range(1, 9)
    ]
    reply = digest_reply(notices, NOW)
    undo = [b.text for b in reply.card.buttons if b.key.startswith("alert_undo:")]
    assert undo == [f"撤销 #{i}" for i in range(1, 6)]
    lines = {int(line.split()[1][1:]): line for line in reply.text.splitlines() if line.startswith("· #")}
    assert sorted(lines) == list(range(1, 9))
    for i, line in lines.items():
        assert ("可点「撤销」否决" in line) == (f"撤销 #{i}" in undo), line
    assert "#6、#7、#8 没有自己的按钮" in reply.text
