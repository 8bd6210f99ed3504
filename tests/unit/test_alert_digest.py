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
