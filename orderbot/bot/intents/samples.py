"""Built-in sample messages: one or more per intent, typed and spoken, Chinese and English.

Used by `IntentParser.warm_up()` and by `bench_parse`, so both run without the test corpus installed.
"""
from __future__ import annotations

MESSAGES: tuple[str, ...] = (
    "查看华东区昨日延迟TOP3客户",
    "show yesterday's top-3 delayed East China customers",
    "呃帮我看一下那个华冬区昨天言迟TOP三客户",
    "广东省上个月延迟客户前十",
    "延迟原因TOP5",
    "why were orders late this week",
    "现在订单都卡在哪",
    "亚马逊的单子现在卡在哪些环节",
    "发一下昨天的日报",
    "daily report",
    "近30天订单趋势",
    "本月取消率走势",
    "shipped trend last 14 days",
    "查一下订单SO202602010001到哪了",
    "运单yt123456789cn的物流状态",
    "where is order SO202602010001",
    "SO202602010001 预计交付改为3月5日",
    "set ETA of SO202602010001 to 2026-03-05",
    "SO202602010001 卡关",
    "把SO202602010001转人工清关",
    "SO202602010001 解除卡关",
    "release SO202602010001",
    "冻结TikTok渠道",
    "freeze amazon",
    "解冻速卖通",
    "unfreeze shopify",
    "PB-20K-BLK 库存",
    "how many PB-20K-BLK left",
    "如果明天突然涌入5000单，哪3个SKU会在48小时内断货",
    "我今天的扫码准确率",
    "仓库本周扫码统计",
    "静默取消率告警2小时",
    "mute customs_stuck for 30 minutes",
    "恢复取消率告警",
    "帮助",
    "what can you do",
    "今天中午吃什么",
)

# What "did you mean…" offers when nothing in the text points anywhere: the most used intents first.
SUGGESTED: tuple[str, ...] = (
    "order.lookup", "report.daily", "report.top_delayed_customers", "report.pipeline", "inventory.query",
    "scan.stats", "help",
)
