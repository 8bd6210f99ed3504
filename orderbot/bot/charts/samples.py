"""Realistic inputs for every chart: used by `orderbot bench`, the tests and anyone eyeballing the pictures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, NamedTuple

from orderbot.bot.charts.chain import progress_chain
from orderbot.bot.charts.cloud import word_cloud
from orderbot.bot.charts.heatmap import scan_heatmap
from orderbot.bot.charts.ranking import ranking_bars
from orderbot.bot.charts.stacked import stacked_reasons
from orderbot.bot.charts.trend import trend_lines

FULFILMENT_STAGES = (
    "支付",
    "CRM标签",
    "库存池",
    "采购计划",
    "质检",
    "打包",
    "物流路由",
    "报关",
    "海外仓",
    "本地派送",
    "签收",
)


class Sample(NamedTuple):
    name: str
    fn: Callable[..., bytes]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def render(self) -> bytes:
        return self.fn(*self.args, **self.kwargs)


def _days(n: int, last: date = date(2026, 2, 9)) -> list[date]:
    return [last - timedelta(days=n - 1 - i) for i in range(n)]


def samples() -> list[Sample]:
    orders = [11820, 12040, 11650, 12400, 12950, 13300, 12010, 11890, 12200, 12500, 12100, 13800, 14200, 12600]
    shipped = [10900, 11200, 11010, 11500, 12000, 12350, 11100, 11000, 11400, 11700, 11200, 12800, 13300, 11900]
    return [
        Sample(
            "ranking_bars",
            ranking_bars,
            (
                "华东区 昨日延迟 TOP5 客户",
                [
                    "上海优品跨境电子商务有限公司（浦东仓）",
                    "杭州小禾家居",
                    "南京 Bright Home Ltd.",
                    "苏州花花小铺",
                    "宁波海淘$9.9专营店",
                ],
                [37, 21, 14, 9, 3],
            ),
            {
                "value_fmt": "{:,.0f} 单",
                "subtitle": "2026-02-09 · 按延迟单数 · 主因：港口拥堵",
                "highlight": "杭州小禾家居",
            },
        ),
        Sample(
            "trend_lines",
            trend_lines,
            ("近14天 订单与发货", _days(14), {"订单量": orders, "已发货": shipped}),
            {
                "previous": {"订单量": [round(v * 0.93) for v in orders], "已发货": [round(v * 0.91) for v in shipped]},
                "y_fmt": "{:,.0f}",
                "subtitle": "虚线为前14天",
            },
        ),
        Sample(
            "trend_lines_percent",
            trend_lines,
            (
                "取消率 · 近7天 · 分渠道",
                _days(7),
                {
                    "Shopify": [0.021, 0.025, 0.019, 0.030, 0.034, 0.028, 0.026],
                    "亚马逊": [0.012, 0.011, 0.015, 0.014, 0.013, 0.020, 0.018],
                    "TikTok Shop": [0.041, None, 0.038, 0.045, 0.050, 0.047, 0.044],
                },
            ),
            {"previous": {"Shopify": [0.020, 0.022, 0.021, 0.024, 0.023, 0.022, 0.021]}, "percent": True},
        ),
        Sample(
            "stacked_reasons",
            stacked_reasons,
            (
                "本周延迟原因 · 按线路",
                ["深圳-洛杉矶（海运快船）", "深圳-纽约", "义乌-伦敦", "广州-悉尼", "宁波-汉堡"],
                {
                    "港口拥堵": [82, 12, 5, 0, 9],
                    "清关查验": [31, 22, 14, 6, 11],
                    "尾程派送": [12, 18, 9, 4, 3],
                    "天气": [4, 15, 0, 2, 0],
                    "仓库漏发": [3, 2, 1, 1, 0],
                    "地址错误": [2, 1, 1, 0, 1],
                    "承运商爽约": [1, 0, 2, 0, 0],
                },
            ),
            {"subtitle": "2026-02-03 至 02-09 · 单位：单"},
        ),
        Sample(
            "scan_heatmap",
            scan_heatmap,
            (
                "包裹 PK-88231 最近三次扫描",
                ["#1 09:58 王磊", "#2 10:02 王磊", "#3 10:05 李娜（组长）"],
                ["订单号", "SKU", "批次", "包裹号", "校验码"],
                [[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 0, 0, 1]],
            ),
            {
                "annotations": [
                    ["SO2602090001234", "BT-EAR-PRO-BLK", "B260209-03", "PK-88231", "7F3A"],
                    ["SO2602090001234", "BT-EAR-PRO-WHT", "B260208-11", "PK-88231", "7F3A"],
                    ["SO2602090001234", "BT-EAR-LITE-BLK", "B260209-03", "PK-88231", "0000"],
                ]
            },
        ),
        Sample(
            "word_cloud",
            word_cloud,
            (
                "近30天 取消原因",
                {
                    "不想要了": 182,
                    "价格太贵": 133,
                    "发货太慢": 121,
                    "拍错了": 96,
                    "地址填错": 77,
                    "重复下单": 64,
                    "关税太高": 58,
                    "物流停滞": 52,
                    "尺码不合适": 47,
                    "颜色选错": 39,
                    "找到更便宜的": 35,
                    "优惠券未生效": 31,
                    "预售时间太长": 28,
                    "支付失败": 24,
                    "商家缺货": 22,
                    "海关查验": 19,
                    "不支持货到付款": 17,
                    "Wrong size": 15,
                    "包裹丢失": 14,
                    "配送时间不合适": 12,
                    "客服回复慢": 11,
                    "差评": 9,
                    "信息填写错误": 7,
                    "朋友已送": 6,
                    "运费太贵": 6,
                },
            ),
            {"subtitle": "共 1,112 单 · 字越大越常见"},
        ),
        Sample("progress_chain", progress_chain, (list(FULFILMENT_STAGES), 7), {"stuck": True}),
    ]
