"""Table-driven tests of the normalisers: dates, numbers, regions and provinces, channels, IDs, ASR slips."""

from __future__ import annotations

from datetime import date, datetime, UTC

import pytest

from orderbot.bot.intents.dates import find_dates
from orderbot.bot.intents.ids import find_order_refs, find_skus
from orderbot.bot.intents.numbers import find_durations, find_order_volumes, find_rankings
from orderbot.bot.intents.text import cn_int, normalise, to_int


TUE = date(2026, 2, 10)  # a Tuesday in the middle of a month
MON = date(2026, 3, 2)  # a Monday: "this week" is today alone
SUN = date(2026, 3, 1)  # a Sunday and the 1st: this week started 6 days ago, this month today
NEW_YEAR = date(2026, 1, 1)  # a Thursday: last week, last month and "this week" cross the year
LEAP_MAR = date(2024, 3, 1)  # February had 29 days


@pytest.fixture
def parser(corpus_parser):
    return corpus_parser


def resolve(text: str, today: date, future: bool = False) -> tuple[str, str] | None:
    found = find_dates(normalise(text))
    assert len(found) == 1, f"{text!r} gave {len(found)} date phrases"
    r = found[0].resolve(today, future)
    return None if r is None else (r[0].isoformat(), r[1].isoformat())


@pytest.mark.parametrize(
    "text, today, want",
    [
        ("今天", TUE, ("2026-02-10", "2026-02-10")),
        ("today", TUE, ("2026-02-10", "2026-02-10")),
        ("昨天", TUE, ("2026-02-09", "2026-02-09")),
        ("昨日", NEW_YEAR, ("2025-12-31", "2025-12-31")),
        ("yesterday", SUN, ("2026-02-28", "2026-02-28")),
        ("前天", TUE, ("2026-02-08", "2026-02-08")),
        ("the day before yesterday", NEW_YEAR, ("2025-12-30", "2025-12-30")),
        ("本周", TUE, ("2026-02-09", "2026-02-10")),
        ("这周", MON, ("2026-03-02", "2026-03-02")),
        ("this week", SUN, ("2026-02-23", "2026-03-01")),
        ("本周", NEW_YEAR, ("2025-12-29", "2026-01-01")),
        ("上周", TUE, ("2026-02-02", "2026-02-08")),
        ("上星期", MON, ("2026-02-23", "2026-03-01")),
        ("上个礼拜", SUN, ("2026-02-16", "2026-02-22")),
        ("last week", NEW_YEAR, ("2025-12-22", "2025-12-28")),
        ("本月", TUE, ("2026-02-01", "2026-02-10")),
        ("这个月", SUN, ("2026-03-01", "2026-03-01")),
        ("this month", NEW_YEAR, ("2026-01-01", "2026-01-01")),
        ("上月", SUN, ("2026-02-01", "2026-02-28")),
        ("上个月", LEAP_MAR, ("2024-02-01", "2024-02-29")),
        ("last month", NEW_YEAR, ("2025-12-01", "2025-12-31")),
        ("近7天", TUE, ("2026-02-04", "2026-02-10")),
        ("最近30天", TUE, ("2026-01-12", "2026-02-10")),
        ("过去十五天", TUE, ("2026-01-27", "2026-02-10")),
        ("last 14 days", TUE, ("2026-01-28", "2026-02-10")),
        ("past seven days", TUE, ("2026-02-04", "2026-02-10")),
        ("近1天", TUE, ("2026-02-10", "2026-02-10")),
        ("近一周", TUE, ("2026-02-04", "2026-02-10")),
        ("最近两周", TUE, ("2026-01-28", "2026-02-10")),
        ("past week", TUE, ("2026-02-04", "2026-02-10")),
        ("近一个月", TUE, ("2026-01-12", "2026-02-10")),
        ("past month", TUE, ("2026-01-12", "2026-02-10")),
        ("近30天", NEW_YEAR, ("2025-12-03", "2026-01-01")),
        ("2月3日", TUE, ("2026-02-03", "2026-02-03")),
        ("2月3号", TUE, ("2026-02-03", "2026-02-03")),
        ("二月三号", TUE, ("2026-02-03", "2026-02-03")),
        ("2/3", TUE, ("2026-02-03", "2026-02-03")),
        ("2026-02-03", TUE, ("2026-02-03", "2026-02-03")),
        ("2026年2月3日", TUE, ("2026-02-03", "2026-02-03")),
        ("Feb 3", TUE, ("2026-02-03", "2026-02-03")),
        ("3 Feb", TUE, ("2026-02-03", "2026-02-03")),
        ("February 3rd", TUE, ("2026-02-03", "2026-02-03")),
        ("2月12日", TUE, ("2025-02-12", "2025-02-12")),  # not yet this year: the past one
        ("12月30日", NEW_YEAR, ("2025-12-30", "2025-12-30")),
        ("2月10日", TUE, ("2026-02-10", "2026-02-10")),  # today counts
        ("2月29日", SUN, ("2024-02-29", "2024-02-29")),
        ("3号", TUE, ("2026-02-03", "2026-02-03")),
        ("15号", TUE, ("2026-01-15", "2026-01-15")),
        ("上周五", MON, ("2026-02-27", "2026-02-27")),
        ("周一", TUE, ("2026-02-09", "2026-02-09")),
        ("2月1日到2月7日", TUE, ("2026-02-01", "2026-02-07")),
        ("2/1-2/7", TUE, ("2026-02-01", "2026-02-07")),
        ("2月1日至7日", TUE, ("2026-02-01", "2026-02-07")),
        ("feb 1-7", TUE, ("2026-02-01", "2026-02-07")),
        ("12月28日到1月3日", date(2026, 1, 5), ("2025-12-28", "2026-01-03")),
    ],
)
def test_report_dates(text, today, want):
    assert resolve(text, today) == want


@pytest.mark.parametrize(
    "text, today, want",
    [
        ("3月5日", TUE, "2026-03-05"),
        ("2月5日", TUE, "2027-02-05"),  # already past: next year's
        ("1月5日", NEW_YEAR, "2026-01-05"),
        ("12月28日", NEW_YEAR, "2026-12-28"),
        ("2026-03-05", TUE, "2026-03-05"),
        ("march 3rd", TUE, "2026-03-03"),
        ("3 mar", TUE, "2026-03-03"),
        ("2/20", TUE, "2026-02-20"),
        ("十五号", TUE, "2026-02-15"),
        ("5号", TUE, "2026-03-05"),
        ("明天", TUE, "2026-02-11"),
        ("后天", NEW_YEAR, "2026-01-03"),
        ("tomorrow", date(2026, 2, 28), "2026-03-01"),
        ("下周五", TUE, "2026-02-20"),
        ("周五", TUE, "2026-02-13"),
        ("friday", date(2026, 2, 13), "2026-02-20"),  # said on a Friday: the next one
        ("3天后", TUE, "2026-02-13"),
        ("2月29日", SUN, "2028-02-29"),
    ],
)
def test_delivery_dates_resolve_forwards(text, today, want):
    assert resolve(text, today, future=True) == (want, want)


@pytest.mark.parametrize("text", ["2月30日", "13/45", "日报", "每日", "3个月后再说"])
def test_non_dates(text):
    found = find_dates(normalise(text))
    assert all(d.resolve(TUE, False) is None for d in found) or not found


@pytest.mark.parametrize(
    "text, want",
    [
        ("三", 3),
        ("十", 10),
        ("十五", 15),
        ("二十", 20),
        ("两", 2),
        ("四十八", 48),
        ("一百二十", 120),
        ("五千", 5000),
        ("一万", 10000),
        ("两万", 20000),
        ("一万二", 12000),
        ("零", 0),
    ],
)
def test_chinese_numerals(text, want):
    assert cn_int(text) == want


@pytest.mark.parametrize(
    "text, want", [("３", 3), ("twenty five", 25), ("twenty-five", 25), ("fifteen", 15), ("7", 7), ("十五", 15)]
)
def test_numbers_in_any_form(text, want):
    assert to_int(normalise(text)) == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("TOP3", 3),
        ("top-3", 3),
        ("top 3", 3),
        ("ＴＯＰ３", 3),
        ("Top 10", 10),
        ("TOP三", 3),
        ("前三", 3),
        ("前3名", 3),
        ("前五大", 5),
        ("三个", 3),
        ("3个", 3),
        ("the top three", 3),
        ("top twenty five", 25),
        ("前十", 10),
        ("5家", 5),
        ("5 customers", 5),
        ("3 most delayed customers", 3),
        ("which 5 skus", 5),
    ],
)
def test_ranking_sizes(text, want):
    assert [q.value for q in find_rankings(normalise(text))] == [want]


@pytest.mark.parametrize(
    "text, minutes, within",
    [
        ("2小时", 120, False),
        ("两个小时", 120, False),
        ("30分钟", 30, False),
        ("for 30 minutes", 30, False),
        ("45 min", 45, False),
        ("2h", 120, False),
        ("1.5小时", 90, False),
        ("一个半小时", 90, False),
        ("半小时", 30, False),
        ("half an hour", 30, False),
        ("an hour", 60, False),
        ("一刻钟", 15, False),
        ("48小时内", 2880, True),
        ("两天内", 2880, True),
        ("within 24 hours", 1440, True),
        ("in 2 days", 2880, True),
        ("十五分钟", 15, False),
        ("三个钟头", 180, False),
    ],
)
def test_durations(text, minutes, within):
    assert [(q.value, q.within) for q in find_durations(normalise(text))] == [(minutes, within)]


@pytest.mark.parametrize(
    "text, want",
    [
        ("涌入5000单", 5000),
        ("5千单", 5000),
        ("五千单", 5000),
        ("1万单", 10000),
        ("一万单", 10000),
        ("2w单", 20000),
        ("1.5万单", 15000),
        ("5,000 orders", 5000),
        ("8000 more orders", 8000),
        ("5000 extra orders", 5000),
        ("3000个订单", 3000),
    ],
)
def test_order_volumes(text, want):
    assert [q.value for q in find_order_volumes(normalise(text))] == [want]


@pytest.mark.parametrize(
    "text, want",
    [
        ("查一下订单SO202602010001到哪了", ["SO202602010001"]),
        ("运单yt123456789cn的物流状态", ["YT123456789CN"]),
        ("YT123456789CN到哪了", ["YT123456789CN"]),
        ("亚马逊单号112-3456789-1234567怎么样了", ["112-3456789-1234567"]),
        ("订单号SO-202602010001", ["SO202602010001"]),
        ("so 2026 0201 0001 查一下", ["SO202602010001"]),
        ("ＳＯ２０２６０２０１０００１", ["SO202602010001"]),
        ("SO2026020100012345到哪", ["SO2026020100012345"]),  # 12 or more digits
        ("SO20260201001到哪", []),  # 11 digits: not an order number
        ("XSO202602010001", []),
        ("YT123456789CNX", []),
        ("SO202602010001和SO202602010002", ["SO202602010001", "SO202602010002"]),
    ],
)
def test_order_refs_in_cjk_context(text, want):
    assert [f.value for f in find_order_refs(normalise(text))] == want


@pytest.mark.parametrize(
    "text, want",
    [
        ("PB-20K-BLK库存", ["PB-20K-BLK"]),
        ("查下eb-tws-wht的库存", ["EB-TWS-WHT"]),
        ("库存CASE-IP15-CLR还有多少", ["CASE-IP15-CLR"]),
        ("pb20kblk还有吗", ["PB-20K-BLK"]),  # a known SKU typed without hyphens
        ("top-3 customers", []),
        ("2026-02-03", []),
        ("e-commerce", []),
        ("within 48-hours", []),
    ],
)
def test_skus(text, want):
    assert [f.value for f in find_skus(normalise(text), known=["PB-20K-BLK", "EB-TWS-WHT"])] == want


NOW = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, region, province",
    [
        ("华东延迟客户", "华东", None),
        ("华东区延迟客户", "华东", None),
        ("华东地区延迟客户", "华东", None),
        ("East China delayed customers", "华东", None),
        ("华南延迟客户", "华南", None),
        ("south china delayed customers", "华南", None),
        ("华北大区延迟客户", "华北", None),
        ("华中延迟客户", "华中", None),
        ("central china delayed customers", "华中", None),
        ("西南延迟客户", "西南", None),
        ("northwest delayed customers", "西北", None),
        ("东北延迟客户", "东北", None),
        ("浙江延迟客户", None, "浙江"),
        ("浙江省延迟客户", None, "浙江"),
        ("上海市延迟客户", None, "上海"),
        ("内蒙古延迟客户", None, "内蒙古"),
        ("内蒙古自治区延迟客户", None, "内蒙古"),
        ("黑龙江延迟客户", None, "黑龙江"),
        ("广西壮族自治区延迟客户", None, "广西"),
        ("guangdong delayed customers", None, "广东"),
        ("华东的江苏延迟客户", "华东", "江苏"),
    ],
)
def test_regions_and_provinces(parser, text, region, province):
    got = parser.parse(text, NOW)
    assert got.name == "report.top_delayed_customers"
    assert (got.slots["region"], got.slots["province"]) == (region, province)


@pytest.mark.parametrize(
    "name, code",
    [
        ("亚马逊", "amazon"),
        ("Amazon", "amazon"),
        ("amz", "amazon"),
        ("Shopify", "shopify"),
        ("独立站", "shopify"),
        ("TikTok", "tiktok"),
        ("TikTok Shop", "tiktok"),
        ("抖音跨境", "tiktok"),
        ("速卖通", "aliexpress"),
        ("AliExpress", "aliexpress"),
        ("Temu", "temu"),
        ("eBay", "ebay"),
        ("易贝", "ebay"),
    ],
)
def test_channels(parser, name, code):
    for text in (f"冻结{name}", f"freeze {name}"):
        got = parser.parse(text, NOW)
        assert (got.name, got.slots["channel"]) == ("channel.freeze", code), text


@pytest.mark.parametrize(
    "text, intent, slot, value",
    [
        ("华冬区延迟客户", "report.top_delayed_customers", "region", "华东"),
        ("华男延迟客户", "report.top_delayed_customers", "region", "华南"),
        ("言迟原因", "report.delay_reasons", "limit", 5),
        ("延时客户", "report.top_delayed_customers", "region", None),
        ("昨天的日报表", "report.daily", "date", "2026-02-09"),
        ("日暴", "report.daily", "date", "2026-02-09"),
        ("PB-20K-BLK酷存", "inventory.query", "sku", "PB-20K-BLK"),
        ("动结亚马孙", "channel.freeze", "channel", "amazon"),
        ("解动速卖同", "channel.unfreeze", "channel", "aliexpress"),
        ("SO202602010001卡官了", "order.hold_customs", "order_ref", "SO202602010001"),
        ("静墨取消绿告警", "alert.mute", "rule", "cancel_rate"),
        ("扫马准确率", "scan.stats", "staff", "me"),
        ("近7天订单趋是", "report.trend", "metric", "orders"),
        ("feeze amazon", "channel.freeze", "channel", "amazon"),
        ("unfreze shopify", "channel.unfreeze", "channel", "shopify"),
        ("dialy report", "report.daily", "date", "2026-02-09"),
    ],
)
def test_speech_slips_and_typos(parser, text, intent, slot, value):
    got = parser.parse(text, NOW)
    assert (got.name, got.slots[slot]) == (intent, value)


@pytest.mark.parametrize(
    "text",
    [
        "呃 帮我 查一下 那个 SO202602010001 到哪了",
        "请查一下SO202602010001到哪了。。。",
        "SO202602010001到哪了？？",
        "can you please check where SO202602010001 is",
        "嗯 那个 SO202602010001 一下 到哪了 谢谢",
    ],
)
def test_fillers_and_punctuation_change_nothing(parser, text):
    got = parser.parse(text, NOW)
    assert (got.name, dict(got.slots)) == ("order.lookup", {"order_ref": "SO202602010001"})
