"""Master-data cells into checked values, without a database: every bad cell is a named problem, never a crash."""

from __future__ import annotations

import pytest

from orderbot.core.catalog.values import parse_product
from orderbot.core.errors import InvalidRow

ROW = {"sku": "pb-20k", "name": "充电宝", "category": "数码", "unit_cost": "58.50", "weight_g": "420"}


def test_a_good_row_parses():
    item = parse_product(ROW)
    assert (item.sku, item.unit_cost_cents, item.weight_g) == ("PB-20K", 5850, 420)


@pytest.mark.parametrize("cell", ["NaN", "Infinity", "-inf", "sNaN", "abc"])
def test_a_cost_that_is_no_amount_is_named(cell):
    with pytest.raises(InvalidRow) as err:
        parse_product({**ROW, "unit_cost": cell})
    assert err.value.problems == [("成本", f"不是金额：{cell}")]


@pytest.mark.parametrize("cell", ["NaN", "Infinity", "sNaN", "abc"])
def test_a_count_that_is_no_number_is_named(cell):
    with pytest.raises(InvalidRow) as err:
        parse_product({**ROW, "weight_g": cell})
    assert err.value.problems == [("重量(g)", f"不是数字：{cell}")]
