"""Cause categories from provider sub statuses and carrier messages, lanes, and clauses that list their causes."""

from __future__ import annotations

import pytest

from orderbot.config import DelayCausesConfig, parse_config, ConfigError
from orderbot.core.causes import CAUSES
from orderbot.core.delays import _covers, classify, lane_of
from orderbot.core.models import CarrierClause

RULES = DelayCausesConfig()


@pytest.mark.parametrize(
    "sub_status, message, category",
    [
        ("Exception_Delayed", "Port strike at Long Beach", "port_congestion"),
        ("Exception_Delayed", "港口拥堵，船期推迟", "port_congestion"),
        ("Exception_Delayed", "Delayed due to extreme weather", "weather"),
        ("Exception_Delayed", "台风影响航班取消", "weather"),
        ("Exception_Other", "Incorrect address, unable to deliver", "address"),
        ("Exception_Delayed", "High volume backlog at hub", "carrier_capacity"),
        ("Exception_Other", "Package lost in transit", "lost_damaged"),
        ("Exception_Delayed", "Held by customs for inspection", "customs_inspection"),
        ("InTransit_CustomsRequiringInformation", None, "customs_inspection"),
        ("Exception_Security", "", "customs_inspection"),
        ("DeliveryFailure_InvalidAddress", None, "address"),
        ("Exception_Damage", None, "lost_damaged"),
        ("Exception_Delayed", "Shipment delayed", "other"),
        ("Exception_Other", None, "other"),
    ],
)
def test_message_words_first_then_the_sub_status(sub_status, message, category):
    assert classify(RULES, sub_status, message) == category


def test_the_mapping_is_business_config_and_checked():
    cfg = parse_config(
        '[delay_causes]\nkeywords = { weather = ["fog"] }\nsub_statuses = { Exception_Delayed = "carrier_capacity" }\n'
    )
    assert classify(cfg.delay_causes, "Exception_Delayed", "Dense fog at airport") == "weather"
    assert classify(cfg.delay_causes, "Exception_Delayed", "Port strike") == "carrier_capacity"  # replaced list
    with pytest.raises(ConfigError, match="unknown cause"):
        parse_config('[delay_causes]\nsub_statuses = { Exception_Delayed = "aliens" }\n')
    assert set(RULES.keywords) | set(RULES.sub_statuses.values()) <= set(CAUSES)


def test_lane_names_the_destination_country():
    assert lane_of("深圳", "us") == "深圳-美国" and lane_of("义乌", "XX") == "义乌-XX" and lane_of(None, None) == "?-?"


def test_a_clause_that_lists_its_causes_is_matched_by_the_list():
    listed = CarrierClause(carrier_code="YUN", clause_no="8.2", title="不可抗力", text="…")
    listed.causes = ["port_congestion", "weather"]  # the column the catalogue import adds
    assert _covers(listed, "weather") is True and _covers(listed, "address") is False
    unlisted = CarrierClause(carrier_code="YUN", clause_no="3.4", title="地址", text="…")
    assert _covers(unlisted, "address") is None
    unlisted.causes = []
    assert _covers(unlisted, "address") is None  # an empty list falls back to the title and text
