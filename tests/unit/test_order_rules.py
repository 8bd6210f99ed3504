"""Order rules without a database: the state machine, promised dates, customs grades, field visibility."""

from __future__ import annotations

from datetime import date, datetime, UTC

import pytest

from orderbot.config import EtaConfig, VisibilityConfig
from orderbot.core.errors import IllegalTransition
from orderbot.core.orders import customs, promise
from orderbot.core.orders.states import STAGE_CODES, Position, next_position, progress_line
from orderbot.core.orders.visibility import project, visible_fields


@pytest.mark.parametrize(
    "current,status,stage,expected",
    [
        (("pending", "payment"), "paid", None, ("paid", "payment")),
        (("paid", "inventory"), None, "packing", ("paid", "packing")),
        (("paid", "packing"), "shipped", None, ("shipped", "routing")),
        (("paid", "inventory"), "shipped", None, ("shipped", "routing")),
        (("shipped", "customs"), "delivered", None, ("delivered", "delivered")),
        (("paid", "qc"), "cancelled", None, ("cancelled", "qc")),
        (("delivered", "delivered"), "return_requested", None, ("return_requested", "delivered")),
    ],
)
def test_legal_moves(current, status, stage, expected):
    assert next_position(Position(*current), status=status, stage=stage) == Position(*expected)


@pytest.mark.parametrize(
    "current,status,stage,message",
    [
        (("paid", "inventory"), "delivered", None, "不能从「已付款」变为「已签收」"),
        (("cancelled", "payment"), "paid", None, "不能从「已取消」变为「已付款」"),
        (("shipped", "customs"), None, "packing", "履约环节不能倒退"),
        (("paid", "inventory"), None, "customs", "「已付款」的订单不能处于「海关申报」环节"),
        (("returned", "delivered"), "shipped", None, "不能从「已退货入库」变为「已发货」"),
        (("paid", "inventory"), "lost", None, "未知的订单状态"),
    ],
)
def test_illegal_moves_raise_named_error_in_chinese(current, status, stage, message):
    with pytest.raises(IllegalTransition, match=message):
        next_position(Position(*current), status=status, stage=stage)


def test_progress_line_marks_the_current_node():
    line = progress_line("customs")
    assert line.startswith("●支付网关") and "◉海关申报" in line and line.endswith("○签收回传")
    assert line.count("→") == len(STAGE_CODES) - 1


def test_promised_date_follows_the_seed_formula():
    eta = EtaConfig()
    late_evening = datetime(2026, 2, 1, 15, 30, tzinfo=UTC)  # 23:30 on 1 Feb in Shanghai
    assert promise.promised_date(late_evening, "深圳", "US", eta) == date(2026, 2, 6)
    assert promise.promised_date(late_evening, "深圳", "us", eta) == date(2026, 2, 6)
    assert promise.promised_date(late_evening, "义乌", "US", eta) == date(2026, 2, 9)
    assert promise.promised_date(late_evening, "深圳", "DE", eta) == date(2026, 2, 9)
    assert promise.effective_promised(date(2026, 2, 6), date(2026, 3, 5)) == date(2026, 3, 5)
    assert promise.effective_promised(date(2026, 2, 6), None) == date(2026, 2, 6)


def test_order_takes_worst_line_grade():
    assert customs.worst_grade(["A", "C", "B"]) == "C"
    assert customs.worst_grade([]) == "A"
    assert not customs.needs_documents("A") and customs.needs_documents("B") and customs.needs_documents("C")


VIEW = {
    "order_no": "SO1",
    "customer_id": "C1",
    "amount": "1.00",
    "origin": "深圳",
    "urgency": "普通",
    "stage": "packing",
    "status": "paid",
    "notes": "请尽快",
    "tax_exempt_no": "TX-9",
    "messages": ["m"],
    "invoice_status": "待退税",
    "customer_email": "a@b.c",
    "timeline": [],
}


def test_everyone_sees_the_five_first_screen_fields():
    rules = VisibilityConfig()
    for roles in ([], ["warehouse"], ["finance"], ["customs"]):
        out = project(VIEW, roles, rules)
        assert {"order_no", "customer_id", "amount", "origin", "urgency"} <= out.keys()
    assert set(project(VIEW, [], rules)) == {"order_no", "customer_id", "amount", "origin", "urgency"}


def test_warehouse_never_sees_customer_notes_even_with_another_role():
    rules = VisibilityConfig()
    assert "notes" not in project(VIEW, ["warehouse"], rules)
    assert "notes" not in project(VIEW, ["warehouse", "sales"], rules)
    assert project(VIEW, ["sales"], rules)["notes"] == "请尽快"


def test_finance_sees_tax_number_only_at_invoicing_stage():
    rules = VisibilityConfig()
    assert "tax_exempt_no" not in project(VIEW, ["finance"], rules)
    assert project({**VIEW, "stage": "customs"}, ["finance"], rules)["tax_exempt_no"] == "TX-9"
    assert "tax_exempt_no" not in project({**VIEW, "stage": "customs"}, ["sales"], rules)
    assert visible_fields(["admin"], "packing", rules) is None


def test_group_chat_masks_private_fields_and_config_can_extend_roles():
    rules = VisibilityConfig(roles={"finance": ["invoice_status", "customer_email"]})
    out = project(VIEW, ["finance"], rules, in_group=True)
    assert out["customer_email"] == "***" and out["invoice_status"] == "待退税"
    assert project(VIEW, ["finance"], rules)["customer_email"] == "a@b.c"
