"""`orderbot seed`: deterministic, realistic synthetic business data, fast enough for a million orders.

What it writes, from one `random.Random(seed)` and a fixed `now` (so the same inputs give the same rows):
channels, carriers with contract clauses, SKUs (lithium-battery products included), customers weighted across
provinces and regions, and orders spread over the last `days` days that move along the 11-node chain — with
their lines, packages and warehouse scans, a timeline of events, delays with causes and contract clauses,
cancellations, returns, customs holds, repeat orders, messages, open tasks and a stock ledger whose movements
sum exactly to the levels beside them.

How it is fast: rows are generated as plain tuples, already encoded the way the ORM would store them, and
written in large batches in one transaction — on SQLite with `executemany` on a plain `sqlite3` connection in a
worker thread (secondary indexes rebuilt once at the end, by sorts that spill to temporary files, over a memory
map), on PostgreSQL with `COPY`. From `PROCESS_MIN_ORDERS` on, a SQLite seed runs the generator in a child process
(`seed_worker`) that streams the chunks through a pipe, so generating and writing use both cores; the child runs
the same generator with the same arguments, so the rows are identical. Small master data goes through the ORM.
The bulk load is one transaction, statistics included: a failed, killed or cancelled (Ctrl-C) seed leaves the
bulk tables as they were (empty) and no child process behind; only the master data written before it (channels,
carriers, SKUs, staff; idempotent upserts) stays.

Entry points: `seed_database(db, …)` for a `Database` (tests, the bench) and `run_seed(url, …)` for the CLI.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sqlite3
import sys
import threading
import time
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime, UTC
from zoneinfo import ZoneInfo

from sqlalchemy import literal, select, text
from sqlalchemy.engine import make_url

from orderbot.config import BusinessConfig
from orderbot.core.causes import CAUSES
from orderbot.core.models import Base, Carrier, CarrierClause, Channel, Product
from orderbot.core.orders import promise
from orderbot.core.orders.customs import DOCS_TASK_SUBJECT, DOCS_TASK_TYPE, GRADE_ORDER, needs_documents
from orderbot.core.regions import REGIONS, region_of
from orderbot.core.sqlutil import insert_ignore
from orderbot.core.staff import sync_staff
from orderbot.db.engine import Database

SOURCE = "seed"
CHUNK_ORDERS = 20_000
PROCESS_MIN_ORDERS = 10_000  # from this size on, SQLite seeds generate in a child process (see seed_worker)

# --- catalogue ------------------------------------------------------------------------------------------------
CHANNELS = (  # code, display name, share of orders, cancellation probability
    # below the cancel_rate threshold (3.5%) on an ordinary day: a freeze is news, not the weather
    ("amazon", "亚马逊", 35, 0.015),
    ("shopify", "独立站", 20, 0.02),
    ("tiktok", "TikTok Shop", 15, 0.025),
    ("aliexpress", "速卖通", 12, 0.02),
    ("temu", "Temu", 10, 0.025),
    ("ebay", "eBay", 8, 0.015),
)
# sku, name, category, hazmat class, packing instruction, fragile, weight g, unit price (cents), popularity
PRODUCTS = (
    ("PB-10K-WHT", "10000mAh 移动电源 白", "移动电源", "UN3480", "PI 965", False, 210, 8900, 30),
    ("PB-20K-BLK", "20000mAh 移动电源 黑", "移动电源", "UN3480", "PI 965", False, 380, 12900, 60),
    ("PB-20K-WHT", "20000mAh 移动电源 白", "移动电源", "UN3480", "PI 965", False, 380, 12900, 25),
    ("PB-MAG-5K", "5000mAh 磁吸移动电源", "移动电源", "UN3480", "PI 965", False, 150, 9900, 20),
    ("PB-30K-PD", "30000mAh PD快充移动电源", "移动电源", "UN3480", "PI 965", False, 560, 19900, 10),
    ("EB-TWS-WHT", "真无线蓝牙耳机 白", "蓝牙耳机", "UN3481", "PI 967", False, 60, 15900, 45),
    ("EB-TWS-BLK", "真无线蓝牙耳机 黑", "蓝牙耳机", "UN3481", "PI 967", False, 60, 15900, 30),
    ("EB-ANC-PRO", "主动降噪蓝牙耳机 Pro", "蓝牙耳机", "UN3481", "PI 967", False, 70, 39900, 15),
    ("EB-SPORT-RED", "运动挂耳蓝牙耳机 红", "蓝牙耳机", "UN3481", "PI 967", False, 45, 12900, 10),
    ("SW-S1-BLK", "S1 智能手表 黑", "智能手表", "UN3481", "PI 967", False, 95, 49900, 25),
    ("SW-S1-SLV", "S1 智能手表 银", "智能手表", "UN3481", "PI 967", False, 95, 49900, 15),
    ("SW-KIDS-PNK", "儿童定位手表 粉", "智能手表", "UN3481", "PI 967", False, 80, 29900, 12),
    ("SW-BAND-3", "智能手环 3代", "智能手表", "UN3481", "PI 967", False, 40, 15900, 18),
    ("TOY-RC-CAR", "遥控越野车", "玩具", "UN3481", "PI 967", False, 650, 25900, 10),
    ("TOY-TALK-PET", "会说话的电子宠物", "玩具", "UN3091", "PI 970", False, 180, 8900, 8),
    ("TOY-LED-YOYO", "发光悠悠球", "玩具", "UN3091", "PI 970", False, 70, 2900, 12),
    ("TOY-BLOCK-500", "500粒拼装积木", "玩具", None, None, False, 900, 15900, 10),
    ("TOY-PLUSH-BEAR", "毛绒小熊 30cm", "玩具", None, None, False, 300, 6900, 12),
    ("COS-LIP-RED", "丝绒哑光口红 正红", "化妆品", None, None, False, 30, 7900, 20),
    ("COS-SERUM-30", "玻尿酸精华液 30ml", "化妆品", None, None, True, 120, 12900, 12),
    ("COS-MASK-10", "补水面膜 10片装", "化妆品", None, None, False, 260, 5900, 15),
    ("COS-PERF-50", "淡香水 50ml", "化妆品", None, None, True, 220, 19900, 6),
    ("CASE-IP15-CLR", "iPhone 15 手机壳 透明", "手机壳", None, None, False, 30, 2900, 40),
    ("CASE-IP15-BLK", "iPhone 15 手机壳 黑", "手机壳", None, None, False, 30, 2900, 25),
    ("CASE-IP16-MAG", "iPhone 16 磁吸手机壳", "手机壳", None, None, False, 40, 4900, 30),
    ("CASE-S24-CLR", "Galaxy S24 手机壳 透明", "手机壳", None, None, False, 30, 2900, 15),
    ("CBL-C2C-1M", "USB-C 对 USB-C 数据线 1米", "数据线", None, None, False, 35, 1900, 35),
    ("CBL-C2L-1M", "USB-C 对 Lightning 数据线 1米", "数据线", None, None, False, 35, 2900, 25),
    ("CBL-A2C-2M", "USB-A 对 USB-C 数据线 2米", "数据线", None, None, False, 50, 1900, 15),
    ("CBL-3IN1", "三合一数据线", "数据线", None, None, False, 60, 3900, 12),
    ("CBL-LTG-2M", "Lightning 数据线 2米", "数据线", None, None, False, 50, 2900, 10),
    ("APP-TEE-WHT-M", "纯棉T恤 白 M", "服装", None, None, False, 180, 5900, 20),
    ("APP-HOOD-GRY-L", "连帽卫衣 灰 L", "服装", None, None, False, 550, 12900, 12),
    ("APP-YOGA-BLK-S", "瑜伽裤 黑 S", "服装", None, None, False, 220, 8900, 15),
    ("APP-SOCK-5P", "运动袜 5双装", "服装", None, None, False, 200, 3900, 10),
    ("HOME-MUG-350", "陶瓷马克杯 350ml", "家居", None, None, True, 380, 3900, 12),
    ("HOME-LAMP-LED", "LED 小夜灯", "家居", None, None, False, 150, 4900, 10),
    ("HOME-TOWEL-2P", "纯棉毛巾 2条装", "家居", None, None, False, 300, 3900, 8),
    ("HOME-VASE-GLS", "玻璃花瓶", "家居", None, None, True, 700, 6900, 5),
    ("HOME-ORG-BOX", "桌面收纳盒", "家居", None, None, False, 420, 4900, 8),
)
LOW_STOCK_SKUS = ("PB-20K-BLK", "EB-TWS-WHT", "SW-S1-BLK", "CASE-IP16-MAG")  # for the stock-out forecast
CARRIERS = (  # code, name, tracking prefix
    ("COSCO", "中远海运", "CS"),
    ("MAERSK", "马士基", "MK"),
    ("DHL", "DHL", "DH"),
    ("YUNEXPRESS", "云途物流", "YT"),
    ("CAINIAO", "菜鸟", "LP"),
)
CLAUSES = (  # clause no, title, text ({name} is the carrier)
    (
        "3.4",
        "收件信息错误与改派",
        "因托运人提供的收件地址或联系方式错误导致派送失败、改派或退回的，{name}不承担延误责任，改派费用由托运人承担。",
    ),
    (
        "5.1",
        "清关延误与查验",
        "货物在目的国被海关抽检、查验或要求补充单证所产生的滞留时间不计入承诺时效；因{name}申报错误导致的查验除外。",
    ),
    (
        "6.4",
        "旺季运力与爆仓",
        "旺季期间{name}应提前7日书面通知运力上限；因超量收货导致分拨中心爆仓延误的，按第9.1条赔付。",
    ),
    (
        "8.2",
        "不可抗力与港口罢工",
        "因战争、罢工（含港口及码头工人罢工）、政府行为等不可抗力造成延误的，{name}应在48小时内书面通知托运人并提供"
        "港口或船公司公告作为证据，双方协商顺延时效；未及时通知的，按第9.1条赔付。",
    ),
    (
        "8.3",
        "恶劣天气",
        "因台风、暴雪、寒潮等恶劣天气导致航班或船期取消的，{name}应提供气象部门预警证明，时效相应顺延。",
    ),
    ("9.1", "延误赔付", "非不可抗力原因超出承诺时效的，每延误1日按运费的5%赔付，累计不超过运费的50%。"),
)
ORIGINS = (("深圳", 50), ("义乌", 30), ("广州", 20))
# dest, share, city, port, strike place, customs authority, carrier weights (COSCO MAERSK DHL YUNEXPRESS CAINIAO)
DESTS = (
    ("US", 45, "洛杉矶", "洛杉矶港", "美西", "美国海关", (20, 15, 15, 35, 15)),
    ("GB", 15, "伦敦", "费利克斯托港", "英国费利克斯托", "英国海关", (10, 15, 20, 30, 25)),
    ("DE", 15, "汉堡", "汉堡港", "德国汉堡", "德国海关", (10, 15, 20, 30, 25)),
    ("FR", 10, "巴黎", "勒阿弗尔港", "法国勒阿弗尔", "法国海关", (10, 15, 20, 30, 25)),
    ("JP", 15, "东京", "东京港", "日本东京", "日本海关", (10, 0, 25, 30, 35)),
)
PROVINCES = (  # province, weight of customers (华东 heaviest)
    ("浙江", 18),
    ("上海", 12),
    ("江苏", 12),
    ("福建", 6),
    ("山东", 5),
    ("安徽", 2),
    ("江西", 1),
    ("广东", 16),
    ("广西", 1),
    ("海南", 0.5),
    ("北京", 5),
    ("天津", 1),
    ("河北", 1.5),
    ("山西", 0.5),
    ("内蒙古", 0.3),
    ("河南", 2),
    ("湖北", 2.5),
    ("湖南", 2),
    ("重庆", 1.5),
    ("四川", 2.5),
    ("贵州", 0.5),
    ("云南", 0.7),
    ("西藏", 0.1),
    ("陕西", 1),
    ("甘肃", 0.3),
    ("青海", 0.1),
    ("宁夏", 0.1),
    ("新疆", 0.3),
    ("辽宁", 1),
    ("吉林", 0.4),
    ("黑龙江", 0.5),
)
CITIES = {
    "浙江": ("杭州", "宁波", "温州", "义乌", "金华", "台州"),
    "上海": ("上海",),
    "江苏": ("苏州", "南京", "无锡", "常州"),
    "福建": ("厦门", "福州", "泉州"),
    "山东": ("青岛", "济南", "临沂"),
    "安徽": ("合肥", "芜湖"),
    "江西": ("南昌",),
    "广东": ("深圳", "广州", "东莞", "佛山", "汕头"),
    "广西": ("南宁",),
    "海南": ("海口",),
    "北京": ("北京",),
    "天津": ("天津",),
    "河北": ("石家庄", "保定"),
    "山西": ("太原",),
    "内蒙古": ("呼和浩特",),
    "河南": ("郑州",),
    "湖北": ("武汉",),
    "湖南": ("长沙",),
    "重庆": ("重庆",),
    "四川": ("成都",),
    "贵州": ("贵阳",),
    "云南": ("昆明",),
    "西藏": ("拉萨",),
    "陕西": ("西安",),
    "甘肃": ("兰州",),
    "青海": ("西宁",),
    "宁夏": ("银川",),
    "新疆": ("乌鲁木齐",),
    "辽宁": ("沈阳", "大连"),
    "吉林": ("长春",),
    "黑龙江": ("哈尔滨",),
}
NAME_SYLLABLES = "恒泰华鑫盛源达瑞通博锦宏嘉美优创汇德信联诚丰耀启明星海云峰佳新润凯晟辰悦"
NAME_SUFFIXES = (
    "贸易有限公司",
    "电子商务有限公司",
    "进出口有限公司",
    "科技有限公司",
    "供应链管理有限公司",
    "商贸有限公司",
)
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 8, 9, 10, 10, 9, 8, 7, 8, 9, 9, 7, 4)  # local hours
WEEKDAY_FACTOR = (1.05, 1.0, 1.0, 1.0, 1.05, 0.9, 0.85)
CANCEL_REASONS = (
    ("价格太高", 25),
    ("物流太慢", 20),
    ("重复下单", 15),
    ("地址错误", 10),
    ("不想要了", 15),
    ("找到更便宜的", 8),
    ("付款方式问题", 4),
    ("商品缺货", 3),
)
RETURN_REASONS = ("尺码不合适", "质量问题", "与描述不符", "运输途中损坏", "不想要了")
DELAY_REASONS = ("港口罢工", "清关查验", "天气", "爆仓", "缺货", "地址错误")
DELAY_CATEGORY = {
    "港口罢工": "port_congestion",
    "清关查验": "customs_inspection",
    "天气": "weather",  # core.causes
    "爆仓": "carrier_capacity",
    "缺货": "other",
    "地址错误": "address",
}
# The reason as a delay record stores it: the core's name of the cause (`core.causes`), as live delays get it, so
# that 延迟原因TOP5 counts a seeded 清关查验 and a live 海关查验 as one cause. Only 缺货, which no carrier reports
# (its category is "other"), keeps its own word. The seed's own words stay in each record's `cause` sentence.
DELAY_RECORDED = {r: CAUSES[c] if c != "other" else r for r, c in DELAY_CATEGORY.items()}
DELAY_CLAUSE = {"港口罢工": "8.2", "清关查验": "5.1", "天气": "8.3", "爆仓": "6.4", "缺货": None, "地址错误": "3.4"}
DELAY_DAYS = {
    "港口罢工": (3, 9),
    "清关查验": (2, 6),
    "天气": (1, 4),
    "爆仓": (1, 3),
    "缺货": (2, 7),
    "地址错误": (1, 3),
}
HOLD_REASONS = (
    "清关滞留超过48小时：目的国海关查验，需补充商业发票",
    "清关滞留超过48小时：锂电池申报资料不全，需补MSDS",
    "清关滞留超过48小时：申报价值存疑，待补充付款凭证",
    "清关滞留超过48小时：品牌授权书缺失",
)
NOTES = (
    "请尽快发货",
    "易碎品，包装加固",
    "发票抬头见邮件",
    "周末不收货",
    "需要提供商业发票",
    "客户要求中性包装",
    "同一客户合并发货",
    "收件人电话见备注二",
    "大促订单，优先处理",
)
OVERRIDE_REASONS = ("客户加急，协调空运", "大客户要求提前交付", "船期调整，顺延交付", "客户要求延后收货")
WEATHER = (("寒潮", "分拨中心停摆"), ("台风", "航班取消"), ("暴雪", "干线停运"), ("暴雨", "派送中断"))
MEDIA = (("wechat", 50), ("phone", 20), ("email", 20), ("wecom", 10))
# (customer says, we answer) pairs for the communications log
TALKS_CHASE = (
    ("客户催单：什么时候能到？", "已告知预计到货时间 {promised}"),
    ("客户询问物流进度", "已发送最新物流轨迹"),
    ("客户催单，要求加急", "已安排加急处理并告知客户"),
)
TALKS_DELAY = (
    ("客户投诉延误，要求赔偿", "已致歉并说明延误原因：{reason}"),
    ("客户催单：为什么还没到？", "已说明{reason}导致延误，预计再等{days}天"),
)
TALKS_RETURN = (("客户申请退货：{reason}", "已提交退货申请，提供退货地址"),)
TALKS_PAID = (("客户要求修改收货地址", "已更新地址并通知仓库"), ("客户询问发货时间", "已告知预计发货时间"))


class SeedRefused(Exception):
    """The database already holds business data; seeding only ever writes into an empty one."""


class SeedInterrupted(Exception):
    """The seed was cancelled (Ctrl-C) while loading; its transaction was rolled back."""


INTERRUPTED = "seed 已中断：事务已回滚，数据库保持原样 | seed interrupted: rolled back, the database is as it was"


@dataclass
class SeedSummary:
    """What one seed run wrote (row counts per table) and how long it took."""

    counts: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    backend: str = ""
    refused: str | None = None
    phases: dict[str, float] = field(default_factory=dict)  # where the bulk load's time went (SQLite), seconds

    @property
    def orders(self) -> int:
        return self.counts.get("orders", 0)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        if self.refused:
            return f"未写入演示数据：{self.refused}"
        c = self.counts
        parts = [
            f"订单 {c.get('orders', 0):,}",
            f"客户 {c.get('customers', 0):,}",
            f"SKU {c.get('products', 0)}",
            f"订单行 {c.get('order_lines', 0):,}",
            f"包裹 {c.get('packages', 0):,}",
            f"事件 {c.get('order_events', 0):,}",
            f"延误 {c.get('delays', 0):,}",
            f"沟通记录 {c.get('communications', 0):,}",
            f"任务 {c.get('tasks', 0):,}",
            f"库存流水 {c.get('stock_movements', 0):,}",
        ]
        rate = self.rows / self.elapsed if self.elapsed else 0.0
        return (
            f"演示数据已生成（{self.backend}）："
            + "，".join(parts)
            + f"；共 {self.rows:,} 行，用时 {self.elapsed:.1f} 秒（{rate:,.0f} 行/秒）"
            + f" | seeded {c.get('orders', 0):,} orders, {self.rows:,} rows in {self.elapsed:.1f}s"
        )


# --- how values are stored ------------------------------------------------------------------------------------
# The bulk rows bypass the ORM, so each backend gets values exactly as the column types would bind them.
COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("id", "name", "province", "region", "wechat_openid", "email", "sales_owner", "tags", "created_at"),
    "orders": (
        "id",
        "order_no",
        "customer_id",
        "amount_cents",
        "origin",
        "urgency",
        "currency",
        "channel_code",
        "channel_order_id",
        "dest_country",
        "status",
        "stage",
        "stage_since",
        "review_hold",
        "customs_grade",
        "customs_hold",
        "customs_hold_reason",
        "promised_date",
        "promised_override",
        "override_by",
        "override_at",
        "override_reason",
        "tracking_no",
        "carrier_code",
        "notes",
        "tax_exempt_no",
        "invoice_status",
        "cancel_reason",
        "sales_owner",
        "created_at",
        "paid_at",
        "shipped_at",
        "delivered_at",
        "cancelled_at",
        "return_requested_at",
        "return_received_at",
        "source_updated_at",
        "updated_at",
    ),
    "order_lines": ("order_id", "sku", "qty"),
    "packages": (
        "order_id",
        "package_no",
        "sku",
        "qty",
        "batch_no",
        "tracking_no",
        "scanned_at",
        "scanned_by",
        "station",
    ),
    "order_events": ("order_id", "at", "kind", "stage", "status", "source", "actor", "detail"),
    "delays": (
        "order_id",
        "reason",
        "lane",
        "cause",
        "carrier_code",
        "clause_no",
        "delay_days",
        "recorded_at",
        "category",
    ),
    "communications": ("order_id", "at", "direction", "medium", "party", "summary"),
    "tasks": ("key", "type", "subject", "order_id", "assignee", "state", "created_at", "closed_at", "data"),
    "stock_movements": ("sku", "kind", "qty", "d_on_hand", "d_reserved", "order_no", "actor", "note", "at"),
    "scans": (
        "at",
        "staff_id",
        "platform_user",
        "station",
        "raw",
        "outcome",
        "order_no",
        "package_no",
        "sku",
        "batch_no",
        "detail",
        "correction",
    ),
}
BULK_ORDER = (
    "customers",
    "orders",
    "order_lines",
    "packages",
    "order_events",
    "delays",
    "communications",
    "tasks",
    "stock_movements",
    "scans",
)


def _check_columns() -> None:
    """Fail loudly if the model gained a required column the bulk rows do not fill."""
    tables = Base.metadata.tables
    for name, cols in COLUMNS.items():
        table = tables[name]
        unknown = [c for c in cols if c not in table.c]
        missing = [c.name for c in table.c if c.name not in cols and not c.nullable and not c.primary_key]
        if unknown or missing:
            raise RuntimeError(f"seed columns for {name} out of date: unknown {unknown}, missing {missing}")


class _SqliteCodec:
    """UTC seconds → 'YYYY-MM-DD HH:MM:SS.000000' (SQLAlchemy's SQLite DateTime format), dates as ISO text."""

    def __init__(self) -> None:
        self._dates: dict[int, str] = {}
        days: dict[int, str] = {}
        tod = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000" for s in range(86400)]

        def ts(t: int | None) -> str | None:  # a closure: the hottest function of the seed
            if t is None:
                return None
            d = t // 86400
            day = days.get(d)
            if day is None:
                day = days[d] = date.fromordinal(719163 + d).isoformat() + " "
            return day + tod[t - d * 86400]

        self.ts = ts

    def day(self, ordinal: int | None) -> str | None:
        if ordinal is None:
            return None
        s = self._dates.get(ordinal)
        if s is None:
            s = self._dates[ordinal] = date.fromordinal(ordinal).isoformat()
        return s

    @staticmethod
    def flag(value: bool) -> int:
        return 1 if value else 0

    @staticmethod
    def json(value) -> str:
        return json.dumps(value)


class _PgCodec:
    """UTC seconds → aware datetimes, ordinals → dates, JSON as text (what asyncpg's COPY expects)."""

    EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

    def ts(self, t: int | None) -> datetime | None:
        return None if t is None else self.EPOCH + timedelta(seconds=t)

    @staticmethod
    def day(ordinal: int | None) -> date | None:
        return None if ordinal is None else date.fromordinal(ordinal)

    @staticmethod
    def flag(value: bool) -> bool:
        return bool(value)

    @staticmethod
    def json(value) -> str:
        return json.dumps(value)


# --- the generator --------------------------------------------------------------------------------------------
def _perm(seq: int, digits: int, mult: int, offset: int) -> int:
    """A bijection on [0, 10**digits): unique, random-looking ids from a counter (mult is coprime to 10)."""
    return (seq * mult + offset) % (10**digits)


def _s10_weights(weights: tuple[int, ...]) -> list[int]:
    """Σ digit × weight for every 4-digit block, so a check digit costs two look-ups instead of eight products."""
    return [sum(int(d) * w for d, w in zip(f"{n:04d}", weights)) for n in range(10_000)]


_S10_HIGH, _S10_LOW = _s10_weights((8, 6, 4, 2)), _s10_weights((3, 5, 9, 7))


def _s10(prefix: str, serial: int) -> str:
    """A UPU S10 item number: 2 letters, 8 digits, check digit, 'CN' (e.g. YT123456785CN)."""
    check = 11 - (_S10_HIGH[serial // 10_000] + _S10_LOW[serial % 10_000]) % 11
    check = 0 if check == 10 else 5 if check == 11 else check
    return f"{prefix}{serial:08d}{check}CN"


def _cum(weights) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


class _Plan:
    """One order while it is generated: who, what, where, and the times of what has happened by `now`."""

    __slots__ = (
        "oid",
        "order_no",
        "customer",
        "channel",
        "channel_order_id",
        "origin",
        "dest",
        "lane",
        "urgency",
        "skus",
        "qtys",
        "amount",
        "grade",
        "promised",
        "deadline",
        "notes",
        "tax_no",
        "override",
        "status",
        "stage",
        "stage_since",
        "paid",
        "reserved",
        "shipped",
        "delivered",
        "cancelled",
        "ret_req",
        "ret_recv",
        "ret_reason",
        "carrier",
        "tracking",
        "cancel_reason",
        "customs_hold",
        "hold_reason",
        "delay",
        "talk",
        "short",
        "picked",
        "t_customs",
        "t_overseas",
        "t_last",
    )


class _Generator:
    """Turns (seed, orders, days, now, config) into row tuples; every random draw comes from one Random."""

    def __init__(self, *, orders: int, days: int, seed: int, config: BusinessConfig, now: datetime, codec):
        self.n, self.days, self.config, self.codec = orders, days, config, codec
        self.rng = random.Random(seed)
        self.tz = ZoneInfo(config.timezone)
        self.now = int(now.timestamp())
        self.counts: dict[str, int] = {}
        self.sum_on_hand = {p[0]: 0 for p in PRODUCTS}
        self.sum_reserved = {p[0]: 0 for p in PRODUCTS}
        self.recent_qty = {p[0]: 0 for p in PRODUCTS}
        self._local_cache: dict[int, int] = {}
        self._midnight_cache: dict[int, int] = {}
        self._promise_cache: dict[tuple, int] = {}
        self._batch_cache: dict[tuple, str] = {}
        staff = config.staff
        self.sales = [s.id for s in staff if "sales" in s.roles] or [None]
        self.scanners = (
            [s.id for s in staff if "warehouse" in s.roles]
            or [s.id for s in staff if "warehouse_lead" in s.roles]
            or ["warehouse"]
        )
        self.supervisor = next((s.id for s in staff if "sales_supervisor" in s.roles), "sales_supervisor")
        self.service = next((s.id for s in staff if "customer_service" in s.roles), None)
        self.customs = next((s.id for s in staff if "customs" in s.roles), None)
        self.grades = {p[0]: config.customs.grade_for(p[2]) for p in PRODUCTS}
        self.carrier_names = {c[0]: c[1] for c in CARRIERS}
        self.carrier_prefix = {c[0]: c[2] for c in CARRIERS}
        self.rand = self.rng.random
        self._yyyymmdd: dict[int, str] = {}

    def pick(self, seq, cum: list[float]):
        """`rng.choices(seq, cum_weights=cum)[0]` (the same draw), without its overhead."""
        return seq[bisect_right(cum, self.rand() * cum[-1])]

    def yyyymmdd(self, ordinal: int) -> str:
        s = self._yyyymmdd.get(ordinal)
        if s is None:
            s = self._yyyymmdd[ordinal] = date.fromordinal(ordinal).strftime("%Y%m%d")
        return s

    # time helpers (UTC seconds in, business-zone calendar out)
    def local_ordinal(self, t: int) -> int:
        key = t // 900  # every zone offset is a multiple of 15 minutes
        o = self._local_cache.get(key)
        if o is None:
            o = self._local_cache[key] = datetime.fromtimestamp(key * 900, self.tz).date().toordinal()
        return o

    def midnight(self, ordinal: int) -> int:
        m = self._midnight_cache.get(ordinal)
        if m is None:
            m = self._midnight_cache[ordinal] = int(
                datetime.combine(date.fromordinal(ordinal), dtime(), self.tz).timestamp()
            )
        return m

    def promised(self, t: int, origin: str, dest: str) -> int:
        key = (t // 900, origin, dest)
        p = self._promise_cache.get(key)
        if p is None:
            created = datetime.fromtimestamp(t - t % 900, UTC)
            p = self._promise_cache[key] = promise.promised_date(
                created, origin, dest, self.config.eta, self.config.timezone
            ).toordinal()
        return p

    def batch_no(self, t: int) -> str:
        o = self.local_ordinal(t)
        wave = (t - self.midnight(o)) // 7200 + 1
        b = self._batch_cache.get((o, wave))
        if b is None:
            b = self._batch_cache[(o, wave)] = f"B{date.fromordinal(o):%y%m%d}-{wave:02d}"
        return b

    # master data (small; written through the ORM)
    def master(self) -> dict[str, list[dict]]:
        products = [
            dict(
                sku=p[0],
                name=p[1],
                category=p[2],
                customs_grade=self.grades[p[0]],
                hazmat_class=p[3],
                packing_instruction=p[4],
                fragile=p[5],
                weight_g=p[6],
            )
            for p in PRODUCTS
        ]
        clauses = [
            dict(carrier_code=code, clause_no=no, title=title, text=body.format(name=name))
            for code, name, _ in CARRIERS
            for no, title, body in CLAUSES
        ]
        return {
            "channels": [dict(code=c, name=n, frozen=False) for c, n, _s, _p in CHANNELS],
            "carriers": [dict(code=c, name=n) for c, n, _ in CARRIERS],
            "carrier_clauses": clauses,
            "products": products,
        }

    def customers(self) -> list[tuple]:
        rng, ts, js = self.rng, self.codec.ts, self.codec.json
        count = max(50, self.n // 8)
        width = max(5, len(str(count)))
        provinces = [p for p, _ in PROVINCES]
        cum = _cum(w for _, w in PROVINCES)
        weight_of = dict(PROVINCES)
        firsts = [max(ps, key=weight_of.__getitem__) for ps in REGIONS.values()]  # every region, up front
        start = self.now - self.days * 86400
        rows, weights = [], []
        for i in range(count):
            province = firsts[i] if i < len(firsts) else rng.choices(provinces, cum_weights=cum)[0]
            city = rng.choice(CITIES[province])
            name = city + rng.choice(NAME_SYLLABLES) + rng.choice(NAME_SYLLABLES) + rng.choice(NAME_SUFFIXES)
            weight = min(rng.paretovariate(1.2), 60.0) * (3 if i < len(firsts) else 1)
            openid = (
                ("o" + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", k=27)))
                if rng.random() < 0.4
                else None
            )
            email = f"buyer{i + 1:0{width}d}@example.com" if rng.random() < 0.5 else None
            tags = ["大客户"] if weight > 12 else []
            created = start - rng.randrange(86400, 400 * 86400)
            rows.append(
                (
                    f"C{i + 1:0{width}d}",
                    name,
                    province,
                    region_of(province),
                    openid,
                    email,
                    rng.choice(self.sales),
                    js(tags),
                    ts(created),
                )
            )
            weights.append(weight)
        self.customer_rows = rows
        self.customer_idx = range(len(rows))
        self.customer_cum = _cum(weights)
        self.counts["customers"] = len(rows)
        return rows

    def _order_times(self) -> list[tuple[int, int]]:
        """(created UTC seconds, local day ordinal) for every order, sorted; busier recently, a daily rhythm.

        Days are the business zone's calendar days ending today; today only up to a minute before `now`.
        """
        rng, now = self.rng, self.now
        today = self.local_ordinal(now)
        if now - 60 - self.midnight(today) < 3600:  # today has barely begun: use full days up to yesterday
            today -= 1
        ordinals = list(range(today - self.days + 1, today + 1))
        plans, weights = [], []
        for k, o in enumerate(ordinals):
            base = self.midnight(o)
            limit = min(86400, now - 60 - base)  # seconds of this day that lie before now
            hour_w = [HOUR_WEIGHTS[h] * min(1.0, max(0.0, (limit - h * 3600) / 3600)) for h in range(24)]
            plans.append((o, base, limit, _cum(hour_w)))
            weights.append(
                (1 + 0.6 * k / max(1, len(ordinals) - 1))
                * WEEKDAY_FACTOR[date.fromordinal(o).weekday()]
                * sum(hour_w)
                / sum(HOUR_WEIGHTS)
            )
        total = sum(weights)
        quotas = [self.n * w / total for w in weights]
        counts = [int(q) for q in quotas]
        for k in sorted(range(len(quotas)), key=lambda k: counts[k] - quotas[k])[: self.n - sum(counts)]:
            counts[k] += 1
        out: list[tuple[int, int]] = []
        hours = range(24)
        rand = rng.random
        for (o, base, limit, hour_cum), c in zip(plans, counts):
            day_times = []
            for h in rng.choices(hours, cum_weights=hour_cum, k=c):
                start = h * 3600
                day_times.append(base + start + int(rand() * min(3600, limit - start)))
            day_times.sort()
            out.extend((t, o) for t in day_times)
        return out

    def chunks(self, size: int = CHUNK_ORDERS) -> Iterator[tuple[int, dict[str, list]]]:
        """Yield (orders in chunk, rows per table); the first chunk also carries the customers."""
        times = self._order_times()
        self._prepare()
        pending_customers = self.customers()
        for start in range(0, len(times), size):
            tables: dict[str, list] = {name: [] for name in BULK_ORDER}
            if pending_customers:
                tables["customers"], pending_customers = pending_customers, None
            self._orders(times, start, min(len(times), start + size), tables)
            for name, rows in tables.items():
                if name != "customers":
                    self.counts[name] = self.counts.get(name, 0) + len(rows)
            yield min(len(times), start + size) - start, tables
        if pending_customers:  # zero orders: still write the customers
            yield 0, {"customers": pending_customers}

    def _prepare(self) -> None:
        rng = self.rng
        self.channel_codes = [c[0] for c in CHANNELS]
        self.channel_cum = _cum(c[2] for c in CHANNELS)
        self.channel_names = {c[0]: c[1] for c in CHANNELS}
        self.cancel_p = {c[0]: c[3] for c in CHANNELS}
        self.channel_seq = {c[0]: 0 for c in CHANNELS}
        self.channel_offset = {c[0]: rng.randrange(10**12) for c in CHANNELS}
        self.origins = [o for o, _ in ORIGINS]
        self.origin_cum = _cum(w for _, w in ORIGINS)
        self.dest_cum = _cum(d[1] for d in DESTS)
        self.carrier_codes = [c[0] for c in CARRIERS]
        self.carrier_cum = {d[0]: _cum(d[6]) for d in DESTS}
        self.delay_cum = _cum((10, 30, 20, 15, 15, 10))  # weights of DELAY_REASONS outside a strike
        self.skus = [p[0] for p in PRODUCTS]
        self.sku_cum = _cum(p[8] for p in PRODUCTS)
        self.price = {p[0]: p[7] for p in PRODUCTS}
        self.sku_name = {p[0]: p[1] for p in PRODUCTS}
        self.cancel_reasons = [r for r, _ in CANCEL_REASONS]
        self.cancel_cum = _cum(w for _, w in CANCEL_REASONS)
        self.media = [m for m, _ in MEDIA]
        self.media_cum = _cum(w for _, w in MEDIA)
        self.tracking_offset = rng.randrange(10**8)
        per_day = max(1.0, self.n / self.days)
        # repeat orders: some customers order 3+ times within 72 h ("急单试探")
        self.bursts: dict[int, int] = {}
        for _ in range(max(3, self.n // 400) if self.n >= 10 else 0):
            customer = rng.randrange(max(50, self.n // 8))
            step = max(1, int(per_day * rng.uniform(0.1, 0.45)))
            size = rng.randint(3, 4)
            anchor = rng.randrange(max(1, self.n - size * step))
            for j in range(size):
                if anchor + j * step < self.n:
                    self.bursts[anchor + j * step] = customer
        self._seq_state = (None, 0)  # (local day, last order sequence of that day) across chunks
        # a week-long strike at the US west-coast ports, a month back: one cause among several, not all of them
        self.strike = (self.now - int((self.days * 0.5 + 3.5) * 86400), self.now - int((self.days * 0.5 - 3.5) * 86400))

    def _channel_order_id(self, channel: str) -> str:
        """Unique ids in each platform's style (Amazon 3-7-7 digits, Shopify #1001, …) from a per-channel counter."""
        seq = self.channel_seq[channel]
        self.channel_seq[channel] = seq + 1
        off = self.channel_offset[channel]
        if channel == "amazon":
            return f"11{1 + int(self.rand() * 4)}-{_perm(seq, 7, 7919113, off):07d}-{int(self.rand() * 1e7):07d}"
        if channel == "shopify":
            return f"#{1001 + seq}"
        if channel == "tiktok":
            return f"5764{_perm(seq, 14, 48271, off):014d}"
        if channel == "aliexpress":
            return f"8{_perm(seq, 15, 69621, off):015d}"
        if channel == "temu":
            return f"PO-211-{_perm(seq, 14, 16807, off):014d}"
        n = _perm(seq, 12, 40693, off)  # ebay: 12-34567-89012
        return f"{n // 10**10:02d}-{n // 10**5 % 10**5:05d}-{n % 10**5:05d}"

    def _orders(self, times, lo: int, hi: int, tables: dict[str, list]) -> None:
        rand, pick, now = self.rand, self.pick, self.now
        customers, customer_idx, customer_cum = self.customer_rows, self.customer_idx, self.customer_cum
        recent_from = now - 7 * 86400
        seq_day, seq = self._seq_state
        for i in range(lo, hi):
            created, local_o = times[i]
            if local_o != seq_day:
                seq_day, seq = local_o, 0
            seq += 1
            p = _Plan()
            p.oid = i + 1
            p.order_no = f"SO{self.yyyymmdd(local_o)}{seq:06d}"
            cidx = self.bursts.get(i)
            p.customer = customers[cidx if cidx is not None else pick(customer_idx, customer_cum)]
            p.channel = pick(self.channel_codes, self.channel_cum)
            p.channel_order_id = self._channel_order_id(p.channel)
            p.origin = pick(self.origins, self.origin_cum)
            p.dest = pick(DESTS, self.dest_cum)
            p.lane = f"{p.origin}-{p.dest[2]}"
            r = rand()
            p.urgency = "normal" if r < 0.85 else "urgent" if r < 0.97 else "critical"
            if cidx is not None and rand() < 0.6:
                p.urgency = "urgent"  # a burst of repeat orders looks like "急单试探"
            self._lines(p)
            p.promised = self.promised(created, p.origin, p.dest[0])
            p.deadline = self.midnight(p.promised + 1)
            if created >= recent_from:
                recent = self.recent_qty
                for s, q in zip(p.skus, p.qtys):
                    recent[s] += q
            p.notes = self.rng.choice(NOTES) if rand() < 0.08 else None
            p.tax_no = (
                f"91{110000 + int(rand() * 550000)}MA{10_000_000 + int(rand() * 89_999_999)}" if rand() < 0.1 else None
            )  # an 18-character unified social credit code
            self._decide(p, created)
            p.override = None
            if rand() < 0.005:  # a sales supervisor moved the promised date, once the goods were reserved
                at = p.reserved + 60 + int(rand() * 3600)
                if p.shipped is not None:
                    at = min(at, p.shipped - 60)
                if p.stage != "payment" and at < now and (p.cancelled is None or at < p.cancelled):
                    p.override = (p.promised + self.rng.choice((-2, -1, 2, 3)), self.rng.choice(OVERRIDE_REASONS), at)
            self._emit(p, created, tables)
        self._seq_state = (seq_day, seq)

    def _lines(self, p: _Plan) -> None:
        rand, pick = self.rand, self.pick
        r = rand()
        n_lines = 1 if r < 0.75 else 2 if r < 0.95 else 3
        skus: list[str] = []
        while len(skus) < n_lines:
            s = pick(self.skus, self.sku_cum)
            if s not in skus:
                skus.append(s)
        qtys, amount = [], 0
        for s in skus:
            r = rand()
            q = (
                1
                if r < 0.6
                else 2
                if r < 0.8
                else 3
                if r < 0.9
                else 4 + int(rand() * 7)
                if r < 0.98
                else 20 + int(rand() * 41)
            )
            qtys.append(q)
            amount += q * self.price[s]
        if rand() < 0.2:
            amount = amount * (97 - int(rand() * 10)) // 100
        p.skus, p.qtys, p.amount = skus, qtys, amount
        grades = self.grades
        p.grade = grades[skus[0]] if len(skus) == 1 else max((grades[s] for s in skus), key=GRADE_ORDER.__getitem__)

    def _decide(self, p: _Plan, created: int) -> None:
        """Where the order stands at `now`: pending, cancelled, in the warehouse, in transit, delivered, returned."""
        rand, now = self.rand, self.now
        age = now - created
        p.status, p.stage, p.stage_since, p.paid = "paid", "payment", created, created
        p.reserved = created + 60 + int(rand() * 1140)
        p.shipped = p.delivered = p.cancelled = p.ret_req = p.ret_recv = None
        p.carrier = p.tracking = p.cancel_reason = p.hold_reason = p.delay = p.talk = None
        p.customs_hold = p.short = False
        if rand() < (0.4 if age < 2 * 3600 else 0.1 if age < 6 * 3600 else 0.0):  # payment follows within hours
            p.status, p.paid = "pending", None
        elif rand() < self.cancel_p[p.channel] and (after := int(360 + rand() * 36 * 3600)) < age:
            # a customer cancels within a day and a half; today's young orders mostly have not (yet), so today's
            # cancellation rate is not the whole period's squeezed into a few hours
            p.status = "cancelled"
            p.cancelled = created + after
            p.cancel_reason = self.pick(self.cancel_reasons, self.cancel_cum)
            if p.cancelled >= p.reserved:
                p.stage, p.stage_since = "inventory", p.reserved
        else:
            self._fulfil(p, created, age)

    def _fulfil(self, p: _Plan, created: int, age: int) -> None:
        rand, now = self.rand, self.now
        lag = int({"normal": 8 + rand() * 32, "urgent": 4 + rand() * 14, "critical": 2 + rand() * 6}[p.urgency] * 3600)
        dest = p.dest
        in_strike = dest[0] == "US" and self.strike[0] <= created <= self.strike[1]
        delayed = rand() < 0.06 or (in_strike and rand() < 0.15)
        reason, ddays = None, 0
        if delayed:
            reason = "港口罢工" if in_strike and rand() < 0.5 else self.pick(DELAY_REASONS, self.delay_cum)
            lo, hi = DELAY_DAYS[reason]
            ddays = lo + int(rand() * (hi - lo + 1))
            if reason == "缺货":
                p.short = True
                lag += ddays * 86400
        shipped = created + lag
        if shipped > now:  # still in the warehouse
            f = age / lag
            if p.short:
                if f < 0.85:
                    p.stage, p.stage_since = "purchase", p.reserved
                else:
                    p.stage, p.stage_since = "packing", created + int(lag * 0.85)
            elif f < 0.3:
                p.stage, p.stage_since = "inventory", p.reserved
            elif f < 0.6:
                p.stage, p.stage_since = "qc", created + int(lag * 0.3)
            else:
                p.stage, p.stage_since = "packing", created + int(lag * 0.6)
            if p.reserved > now:
                p.stage, p.stage_since = "payment", created
            if p.short and p.reserved + 3600 <= now:
                p.delay = ("缺货", ddays, p.reserved + 3600, "purchase")
            if rand() < 0.04:
                p.talk = TALKS_PAID
            return
        p.shipped = shipped
        carrier = self.pick(self.carrier_codes, self.carrier_cum[dest[0]])
        if reason == "港口罢工" and carrier not in ("COSCO", "MAERSK"):
            carrier = "COSCO" if rand() < 0.6 else "MAERSK"  # strikes hit the sea lanes
        p.carrier = carrier
        p.tracking = _s10(self.carrier_prefix[carrier], _perm(p.oid, 8, 7919113, self.tracking_offset))
        if delayed:
            arrive = self.midnight(p.promised + ddays) + 9 * 3600 + int(rand() * 11 * 3600)
        elif rand() < 0.015:  # late, and nobody recorded why
            arrive = p.deadline + 7200 + int(rand() * 46 * 3600)
        else:
            arrive = shipped + int(max(36 * 3600, (p.deadline - shipped) * (0.5 + rand() * 0.42)))
        arrive = max(arrive, shipped + 36 * 3600)
        transit = arrive - shipped
        p.picked = shipped + 7200 + int(rand() * 3 * 3600)
        p.t_customs = shipped + int(transit * 0.15)
        p.t_overseas = shipped + int(transit * 0.5)
        p.t_last = shipped + int(transit * 0.75)
        if not delayed and now - 7 * 86400 <= p.t_customs <= now - 50 * 3600 and rand() < 0.05:
            delayed, reason = True, "清关查验"  # stuck in customs to this day
            ddays = 2 + int(rand() * 5)
            arrive = p.t_overseas = p.t_last = now + 30 * 86400
            p.customs_hold = rand() < 0.8
            p.hold_reason = self.rng.choice(HOLD_REASONS) if p.customs_hold else None
        if delayed:
            recorded, at_stage = {
                "港口罢工": (shipped + transit // 10, "routing"),
                "天气": (shipped + transit // 10, "routing"),
                "爆仓": (shipped + transit // 20, "routing"),
                "清关查验": (p.t_customs + 6 * 3600, "customs"),
                "地址错误": (p.t_last + 4 * 3600, "last_mile"),
                "缺货": (p.reserved + 3600, "purchase"),
            }[reason]
            if recorded <= now:
                p.delay = (reason, ddays, recorded, at_stage)
        if arrive > now:
            p.status = "shipped"
            if now < p.t_customs:
                p.stage, p.stage_since = "routing", shipped
            elif now < p.t_overseas:
                p.stage, p.stage_since = "customs", p.t_customs
            elif now < p.t_last:
                p.stage, p.stage_since = "overseas_wh", p.t_overseas
            else:
                p.stage, p.stage_since = "last_mile", p.t_last
        else:
            p.status, p.stage, p.stage_since, p.delivered = "delivered", "delivered", arrive, arrive
            if rand() < 0.03:
                requested = arrive + 86400 + int(rand() * 9 * 86400)
                if requested < now:
                    p.ret_req = requested
                    p.ret_reason = self.rng.choice(RETURN_REASONS)
                    received = requested + 2 * 86400 + int(rand() * 10 * 86400) if rand() < 0.8 else None
                    if received is not None and received <= now:
                        p.ret_recv = received
                    p.status = "returned" if p.ret_recv else "return_requested"
        p.talk = TALKS_DELAY if p.delay else TALKS_RETURN if p.ret_req else TALKS_CHASE if rand() < 0.04 else None

    def _emit(self, p: _Plan, created: int, tables: dict[str, list]) -> None:  # noqa: C901 - one recipe
        """Rows for one order: timeline, delay, lines, packages, stock movements, messages, tasks, the order."""
        ts, rand, now = self.codec.ts, self.rand, self.now
        ev = tables["order_events"].append
        oid, order_no, status, stage = p.oid, p.order_no, p.status, p.stage
        s_created, s_reserved = ts(created), ts(p.reserved)
        first = "pending" if status == "pending" else "paid"
        ev(
            (
                oid,
                s_created,
                "created",
                "payment",
                first,
                SOURCE,
                None,
                f"订单进入系统（{self.channel_names[p.channel]}）" + ("，待付款" if first == "pending" else ""),
            )
        )
        last = created
        if stage != "payment":
            if p.short:
                ev(
                    (
                        oid,
                        s_reserved,
                        "stage",
                        "purchase",
                        "paid",
                        SOURCE,
                        None,
                        f"库存不足，转采购计划：{p.skus[0]}（缺 {p.qtys[0]}）",
                    )
                )
            else:
                ev((oid, s_reserved, "stage", "inventory", "paid", SOURCE, None, "库存已预留"))
            last = p.reserved
        if status == "paid" and stage in ("qc", "packing"):
            detail = "进入质检" if stage == "qc" else "采购到货，进入打包台" if p.short else "质检通过，进入打包台"
            ev((oid, ts(p.stage_since), "stage", stage, "paid", SOURCE, None, detail))
            last = p.stage_since
        if p.override is not None:
            o_date, o_reason, o_at = p.override
            ev(
                (
                    oid,
                    ts(o_at),
                    "eta",
                    "purchase" if p.short else "inventory",
                    "paid",
                    SOURCE,
                    self.supervisor,
                    f"预计交付 {date.fromordinal(p.promised)} → {date.fromordinal(o_date)}（{o_reason}）",
                )
            )
            last = max(last, o_at)
        s_shipped = scanner = None
        if p.shipped is not None:
            s_shipped = ts(p.shipped)
            scanner = self.scanners[oid % len(self.scanners)]
            carrier, cname, city = p.carrier, self.carrier_names[p.carrier], p.dest[2]
            ev(
                (
                    oid,
                    s_shipped,
                    "status",
                    "routing",
                    "shipped",
                    SOURCE,
                    scanner,
                    f"已付款 → 已发货（扫码出库，运单号 {p.tracking}）",
                )
            )
            last = p.shipped
            if p.picked <= now:
                ev(
                    (
                        oid,
                        ts(p.picked),
                        "tracking",
                        "routing",
                        "shipped",
                        SOURCE,
                        carrier,
                        f"已揽收（{cname}{p.origin}分拨中心）",
                    )
                )
                last = p.picked
            if p.t_customs <= now:
                ev((oid, ts(p.t_customs), "customs", "customs", "shipped", SOURCE, carrier, f"到达{p.dest[3]}，清关中"))
                last = p.t_customs
            if p.customs_hold:
                at = p.t_customs + 48 * 3600 + 600
                ev((oid, ts(at), "customs", "customs", "shipped", SOURCE, carrier, f"卡关-人工介入：{p.hold_reason}"))
                last = at
            if p.t_overseas <= now:
                ev(
                    (
                        oid,
                        ts(p.t_overseas),
                        "tracking",
                        "overseas_wh",
                        "shipped",
                        SOURCE,
                        carrier,
                        f"清关放行，已入{city}海外仓",
                    )
                )
                last = p.t_overseas
            if p.t_last <= now:
                ev((oid, ts(p.t_last), "tracking", "last_mile", "shipped", SOURCE, carrier, f"{city}本地派送中"))
                last = p.t_last
            if p.delivered is not None:
                ev((oid, ts(p.delivered), "tracking", "delivered", "delivered", SOURCE, carrier, "已签收"))
                last = p.delivered
            if p.ret_req is not None:
                ev(
                    (
                        oid,
                        ts(p.ret_req),
                        "status",
                        "delivered",
                        "return_requested",
                        SOURCE,
                        None,
                        f"已签收 → 退货中（{p.ret_reason}）",
                    )
                )
                last = p.ret_req
            if p.ret_recv is not None:
                ev((oid, ts(p.ret_recv), "status", "delivered", "returned", SOURCE, scanner, "退货中 → 已退货入库"))
                last = p.ret_recv
        if status == "cancelled":
            ev(
                (
                    oid,
                    ts(p.cancelled),
                    "status",
                    stage,
                    "cancelled",
                    SOURCE,
                    None,
                    f"已付款 → 已取消（{p.cancel_reason}）",
                )
            )
            last = p.cancelled
        if p.delay is not None:
            reason, ddays, recorded, at_stage = p.delay
            cause = self._cause(p, reason)
            s_recorded = ts(recorded)
            tables["delays"].append(
                (
                    oid,
                    DELAY_RECORDED[reason],
                    p.lane,
                    cause,
                    p.carrier,
                    DELAY_CLAUSE[reason] if p.carrier else None,
                    ddays,
                    s_recorded,
                    DELAY_CATEGORY[reason],
                )
            )
            ev(
                (
                    oid,
                    s_recorded,
                    "delay",
                    at_stage,
                    "paid" if at_stage == "purchase" else "shipped",
                    SOURCE,
                    None,
                    f"{cause}，预计延误{ddays}天",
                )
            )
            last = max(last, recorded)
        self._goods(p, tables, s_reserved, s_shipped, scanner)
        if p.talk is not None:
            self._talk(p, created, tables)
        if status in ("pending", "paid") and needs_documents(p.grade):
            # the customs team completes the documents within a few hours; one order in twenty waits on the
            # supplier for about a working day (the 报关资料待补 reminders the demo shows)
            turnaround = (8 + (oid % 7)) * 3600 if oid % 20 == 0 else 3600 + (oid % 5) * 1800
            done = created + turnaround <= now
            tables["tasks"].append(
                (
                    f"{DOCS_TASK_TYPE}:{order_no}",
                    DOCS_TASK_TYPE,
                    f"{DOCS_TASK_SUBJECT}：{order_no}（海关合规等级{p.grade}）",
                    oid,
                    self.customs if done else None,
                    "done" if done else "open",
                    s_created,
                    ts(created + turnaround) if done else None,
                    "{}",
                )
            )
        invoice = None
        if p.tax_no:
            invoice = "已开票" if status in ("delivered", "returned") and rand() < 0.7 else "待退税"
        elif status == "delivered" and rand() < 0.05:
            invoice = "已开票"
        flag, day, ov = self.codec.flag, self.codec.day, p.override
        tables["orders"].append(
            (
                oid,
                order_no,
                p.customer[0],
                p.amount,
                p.origin,
                p.urgency,
                "CNY",
                p.channel,
                p.channel_order_id,
                p.dest[0],
                status,
                stage,
                ts(p.stage_since),
                flag(False),
                p.grade,
                flag(p.customs_hold),
                p.hold_reason,
                day(p.promised),
                day(ov[0]) if ov else None,
                self.supervisor if ov else None,
                ts(ov[2]) if ov else None,
                ov[1] if ov else None,
                p.tracking,
                p.carrier,
                p.notes,
                p.tax_no,
                invoice,
                p.cancel_reason,
                p.customer[6],
                s_created,
                ts(p.paid),
                s_shipped,
                ts(p.delivered),
                ts(p.cancelled),
                ts(p.ret_req),
                ts(p.ret_recv),
                None,
                ts(last),
            )
        )

    def _goods(self, p: _Plan, tables, s_reserved, s_shipped, scanner) -> None:
        """Order lines, one package per line, and the stock movements they imply."""
        ts, order_no, oid = self.codec.ts, p.order_no, p.oid
        lines, packages, mv = tables["order_lines"], tables["packages"], tables["stock_movements"].append
        scan, flag = tables["scans"].append, self.codec.flag
        released = p.status != "pending" and p.stage != "payment"  # entered fulfilment: packages exist
        holds = released and p.status == "paid" and not (p.short and p.stage == "purchase")
        s_held = ts(p.stage_since) if p.short else s_reserved
        batch = self.batch_no(p.shipped if p.shipped is not None else p.reserved) if released else None
        station = f"打包台-{oid % 4 + 1:02d}"
        s_cancelled = ts(p.cancelled) if p.status == "cancelled" else None
        s_returned = ts(p.ret_recv) if p.ret_recv is not None else None
        sum_on_hand, sum_reserved = self.sum_on_hand, self.sum_reserved
        for k, (s, q) in enumerate(zip(p.skus, p.qtys), start=1):
            lines.append((oid, s, q))
            if not released:
                continue
            if s_shipped is not None:
                packages.append((oid, k, s, q, batch, p.tracking, s_shipped, scanner, station))
                # ~2% of parcels: a label of the wrong batch scanned first, then fixed in place (a correction)
                fixed = (oid * 31 + k) % 47 == 0
                if fixed:
                    scan(
                        (
                            s_shipped,
                            scanner,
                            None,
                            station,
                            f"OB1|{order_no}|{s}|{batch}X|{k}|seed",
                            "wrong_batch",
                            order_no,
                            k,
                            s,
                            f"{batch}X",
                            "批次与包裹不符",
                            flag(False),
                        )
                    )
                scan(
                    (
                        s_shipped,
                        scanner,
                        None,
                        station,
                        f"OB1|{order_no}|{s}|{batch}|{k}|seed",
                        "ok",
                        order_no,
                        k,
                        s,
                        batch,
                        None,
                        flag(fixed),
                    )
                )
                mv((s, "reservation", q, 0, q, order_no, None, "订单预留", s_reserved))
                mv((s, "shipment", q, -q, -q, order_no, scanner, "扫码出库", s_shipped))
                sum_on_hand[s] -= q
                if s_returned is not None:
                    mv((s, "return", q, q, 0, order_no, scanner, "退货入库", s_returned))
                    sum_on_hand[s] += q
                continue
            packages.append((oid, k, s, q, batch, None, None, None, None))
            if s_cancelled is not None:
                mv((s, "reservation", q, 0, q, order_no, None, "订单预留", s_reserved))
                mv((s, "release", q, 0, -q, order_no, None, "订单取消，释放预留", s_cancelled))
            elif holds:
                mv((s, "reservation", q, 0, q, order_no, None, "订单预留", s_held))
                sum_reserved[s] += q

    def _cause(self, p: _Plan, reason: str) -> str:
        dest, lane = p.dest, p.lane
        if reason == "港口罢工":
            return f"{lane}线因{dest[4]}港口罢工导致船期跳变"
        if reason == "清关查验":
            return f"{lane}线货物被{dest[5]}抽中查验，清关滞留"
        if reason == "天气":
            what, effect = WEATHER[p.oid % len(WEATHER)]
            return f"{lane}线因{what}导致{effect}"
        if reason == "爆仓":
            return f"{self.carrier_names.get(p.carrier, '承运商')}{p.origin}分拨中心旺季爆仓，揽收积压"
        if reason == "缺货":
            return f"{self.sku_name[p.skus[0]]}（{p.skus[0]}）库存不足，等待采购到货后发出"
        return f"{dest[2]}收件地址错误，联系客户更正后改派"

    def _talk(self, p: _Plan, created: int, tables) -> None:
        """A customer message and our answer; a delayed order in transit also gets a follow-up task."""
        rand, ts, now = self.rand, self.codec.ts, self.now
        said, answer = self.rng.choice(p.talk)
        end = min(now - 60, p.delivered or now)
        if p.ret_req is not None:
            t2 = p.ret_req
            t1 = t2 - 600 - int(rand() * 3 * 3600)
        else:
            t1 = created + int((end - created) * (0.3 + rand() * 0.5))
            t2 = min(end, t1 + 300 + int(rand() * 4 * 3600))
        promised = p.override[0] if p.override else p.promised
        fill = {
            "promised": date.fromordinal(promised).isoformat(),
            "reason": p.delay[0] if p.delay else "物流",
            "days": p.delay[1] if p.delay else 2,
        }
        if p.ret_req is not None:
            fill["reason"] = p.ret_reason
        medium = self.pick(self.media, self.media_cum)
        party = p.customer[1]
        tables["communications"].append((p.oid, ts(t1), "in", medium, party, said.format(**fill)))
        tables["communications"].append((p.oid, ts(t2), "out", medium, party, answer.format(**fill)))
        if p.delay is not None and p.status == "shipped" and self.service:
            tables["tasks"].append(
                (
                    f"follow_up:{p.order_no}",
                    "follow_up",
                    f"客户催单跟进：{p.order_no}（{p.delay[0]}）",
                    p.oid,
                    self.service,
                    "open",
                    ts(t1),
                    None,
                    json.dumps({"order_no": p.order_no}),
                )
            )

    def stock(self) -> tuple[list[tuple], list[tuple]]:
        """Opening receipts and levels so that levels == Σ movements; a few SKUs run low on purpose."""
        rng, ts = self.rng, self.codec.ts
        receipts, levels = [], []
        opening_at = self.now - (self.days + 1) * 86400
        for p in PRODUCTS:
            sku = p[0]
            rate = self.recent_qty[sku] / 7
            cover = rng.uniform(0.6, 1.6) if sku in LOW_STOCK_SKUS else rng.uniform(20, 60)
            reserved = self.sum_reserved[sku]
            on_hand = reserved + max(3 if sku in LOW_STOCK_SKUS else 50, math.ceil(rate * cover))
            opening = on_hand - self.sum_on_hand[sku]
            receipts.append((sku, "receipt", opening, opening, 0, None, "seed", "期初库存", ts(opening_at)))
            if sku in LOW_STOCK_SKUS:
                in_transit = math.ceil(rate * rng.uniform(7, 14))
            else:
                in_transit = math.ceil(rate * rng.uniform(3, 10)) if rng.random() < 0.3 else 0
            levels.append((sku, on_hand, reserved, in_transit))
        self.counts["stock_movements"] = self.counts.get("stock_movements", 0) + len(receipts)
        self.counts["stock_levels"] = len(levels)
        return receipts, levels


# --- writers --------------------------------------------------------------------------------------------------
def _insert_sql(table: str, cols: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


LEVELS_UPSERT = (
    "INSERT INTO stock_levels (sku, on_hand, reserved, in_transit) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved, "
    "in_transit = excluded.in_transit"
)


class _SqliteLoad:
    """The bulk load on SQLite: one transaction on a private connection (`run` runs in a worker thread).

    Rows come from `source`: the generator itself, or — for big seeds — a `GeneratorProcess` running the same
    generator in a child process, so that generating (one core) and `executemany` (the other) overlap; the total
    is then about the larger of the two instead of their sum. (A writer *thread* gained nothing: executemany holds
    the GIL while binding.)

    Secondary indexes of the bulk tables are dropped at the start of the transaction and rebuilt from their own
    DDL before it commits: building an index once by sorting is several times cheaper than maintaining it row by
    row, and since DDL is transactional in SQLite a failure rolls back to the original schema. The sorts spill to
    temporary files (temp_store=FILE): sorting in cache-sized runs and merging them beats one giant in-memory sort
    by a third at a million orders; and the table pages they scan are read through a memory map (mmap_size; for
    this connection only), another sixth off.

    `cancel()` (from any thread) interrupts the statement in progress and kills the child; `run` then rolls back
    and raises `SeedInterrupted`. `phases` records where the time went (seconds).
    """

    def __init__(self, path: str, source, bar) -> None:
        self.path, self.source, self.bar = path, source, bar
        self.phases: dict[str, float] = {}
        self._conn: sqlite3.Connection | None = None
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()
        conn = self._conn
        if conn is not None:
            conn.interrupt()
        kill = getattr(self.source, "kill", None)
        if kill is not None:
            kill()

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise SeedInterrupted(INTERRUPTED)

    def run(self) -> None:
        clock, phases = time.perf_counter, self.phases
        conn = self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]  # an empty file: a tiny journal
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA cache_size=-1000000")
            conn.execute("PRAGMA temp_store=FILE")  # the index sorts: see the class docstring
            conn.execute("PRAGMA mmap_size=4294967296")  # the index builds read GBs of table pages: no copies
            conn.execute("PRAGMA foreign_keys=OFF")  # rows are consistent by construction; the tests check it
            conn.execute("BEGIN IMMEDIATE")
            try:
                _refuse_if_not_empty_sync(conn)
                marks = ",".join("?" * len(BULK_ORDER))
                indexes = conn.execute(
                    f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                    f"AND tbl_name IN ({marks}) ORDER BY name",
                    BULK_ORDER,
                ).fetchall()
                for name, _sql in indexes:
                    conn.execute(f'DROP INDEX "{name}"')
                sql = {name: _insert_sql(name, cols) for name, cols in COLUMNS.items()}
                waited = written = 0.0
                chunks = iter(self.source.chunks())
                while True:
                    t0 = clock()
                    item = next(chunks, None)
                    t1 = clock()
                    waited += t1 - t0
                    if item is None:
                        break
                    n_orders, tables = item
                    for name in BULK_ORDER:
                        rows = tables.get(name)
                        if rows:
                            self._check()
                            conn.executemany(sql[name], rows)
                    written += clock() - t1
                    self.bar.update(n_orders)
                receipts, levels = self.source.stock()
                conn.executemany(sql["stock_movements"], receipts)
                conn.executemany(LEVELS_UPSERT, levels)
                phases["wait_for_rows"], phases["insert"] = round(waited, 2), round(written, 2)
                phases.update(getattr(self.source, "times", {}))
                t0 = clock()
                for _name, ddl in indexes:
                    self._check()
                    conn.execute(ddl)
                phases["indexes"] = round(clock() - t0, 2)
                self._check()
                t0 = clock()
                conn.execute("ANALYZE")  # full statistics (seconds at 1M orders): approximate ones misled the planner
                phases["analyze"] = round(clock() - t0, 2)
                self._check()
                t0 = clock()
                conn.execute("COMMIT")
                phases["commit"] = round(clock() - t0, 2)
            except BaseException as exc:
                if conn.in_transaction:  # an interrupted INSERT may already have rolled everything back
                    conn.execute("ROLLBACK")
                if self._cancelled.is_set() and not isinstance(exc, SeedInterrupted):
                    raise SeedInterrupted(INTERRUPTED) from exc
                raise
            finally:
                if mode != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
        finally:
            self._conn = None
            conn.close()


def _refuse_if_not_empty_sync(conn: sqlite3.Connection) -> None:
    found = {
        t: conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {t} LIMIT 1)").fetchone()[0]
        for t in ("orders", "customers", "stock_movements")
    }
    _refuse(found)


def _refuse(found: dict[str, int]) -> None:
    names = {"orders": "订单", "customers": "客户", "stock_movements": "库存流水"}
    present = [names[t] for t, n in found.items() if n]
    if present:
        raise SeedRefused(
            f"数据库中已有{'、'.join(present)}数据；seed 只写入空数据库，请换一个新数据库（或新文件）再试"
        )


async def _check_empty(db: Database) -> None:
    async with db.read() as session:
        found = {}
        for name in ("orders", "customers", "stock_movements"):
            table = Base.metadata.tables[name]
            found[name] = int(
                (await session.execute(select(literal(1)).select_from(table).limit(1))).first() is not None
            )
    _refuse(found)


async def _write_master(db: Database, gen: _Generator, config: BusinessConfig) -> None:
    master = gen.master()
    async with db.write() as session:
        await sync_staff(session, config)
        for model, key in ((Channel, ["code"]), (Carrier, ["code"]), (Product, ["sku"])):
            rows = master[model.__tablename__]
            await session.execute(insert_ignore(session, model.__table__, rows, key))
        await session.execute(
            insert_ignore(session, CarrierClause.__table__, master["carrier_clauses"], ["carrier_code", "clause_no"])
        )
    gen.counts.update(
        {
            "products": len(master["products"]),
            "carriers": len(master["carriers"]),
            "carrier_clauses": len(master["carrier_clauses"]),
            "channels": len(master["channels"]),
            "staff": len(config.staff),
        }
    )


async def _load_postgresql(db: Database, gen: _Generator, bar) -> None:
    """The bulk load on PostgreSQL: COPY per table, all in one transaction."""
    async with db.engine.begin() as conn:
        await conn.execute(text("LOCK TABLE orders IN EXCLUSIVE MODE"))  # also starts the transaction
        found = {}
        for name in ("orders", "customers", "stock_movements"):
            found[name] = (await conn.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM {name} LIMIT 1) x"))).scalar()
        _refuse(found)
        raw = (await conn.get_raw_connection()).driver_connection
        it = gen.chunks()
        while True:
            item = await asyncio.to_thread(next, it, None)
            if item is None:
                break
            n_orders, tables = item
            for name in BULK_ORDER:
                rows = tables.get(name)
                if rows:
                    await raw.copy_records_to_table(name, records=rows, columns=list(COLUMNS[name]))
            bar.update(n_orders)
        receipts, levels = gen.stock()
        await raw.copy_records_to_table("stock_movements", records=receipts, columns=list(COLUMNS["stock_movements"]))
        await raw.executemany(
            "INSERT INTO stock_levels (sku, on_hand, reserved, in_transit) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (sku) DO UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved, "
            "in_transit = excluded.in_transit",
            levels,
        )
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence('orders', 'id'), GREATEST((SELECT max(id) FROM orders), 1))")
        )
    async with db.engine.connect() as conn:  # fresh statistics for the planner, on our tables only
        await conn.execute(text("ANALYZE " + ", ".join((*BULK_ORDER, "stock_levels"))))


# --- entry points ---------------------------------------------------------------------------------------------
def default_now() -> datetime:
    """The wall clock truncated to the hour: a re-run within the hour seeds the same data."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


async def seed_database(
    db: Database,
    *,
    orders: int,
    days: int,
    seed: int,
    config: BusinessConfig,
    progress: bool = False,
    now: datetime | None = None,
) -> SeedSummary:
    """Seed an empty database (migrating it first). Raises `SeedRefused` if it already holds business data.

    On SQLite the engine's idle pooled connections are closed first (the engine reconnects on its next use), so
    the bulk load's private connection can switch the journal mode; do not hold a session open meanwhile.
    """
    from tqdm import tqdm

    from orderbot.db.migrate import upgrade

    if orders < 0 or days < 1:
        raise ValueError("orders must be >= 0 and days >= 1")
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    _check_columns()
    started = time.perf_counter()
    now = now or default_now()
    sqlite = db.dialect == "sqlite"
    if sqlite:
        path = db.engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            raise SeedRefused("seed 需要一个 SQLite 数据库文件（不支持内存数据库）")
    gen = _Generator(
        orders=orders, days=days, seed=seed, config=config, now=now, codec=_SqliteCodec() if sqlite else _PgCodec()
    )
    source = None
    if sqlite and orders >= PROCESS_MIN_ORDERS:  # started first: it warms up while we migrate
        from orderbot.tools.seed_worker import GeneratorProcess

        source = GeneratorProcess(orders=orders, days=days, seed=seed, config=config, now=now, chunk=CHUNK_ORDERS)
    phases: dict[str, float] = {}
    try:
        await upgrade(db.engine)
        await _check_empty(db)
        await _write_master(db, gen, config)
        with tqdm(
            total=orders, desc="生成订单", unit="单", unit_scale=True, disable=not progress, file=sys.stderr
        ) as bar:
            if sqlite:
                await db.engine.dispose()  # our private connection needs the file to itself for the journal switch
                load = _SqliteLoad(path, source or gen, bar)
                await _run_cancellable(load)
                phases = load.phases
            else:
                await _load_postgresql(db, gen, bar)
    finally:
        if source is not None:
            source.close()
    if source is not None:
        gen.counts.update(source.counts)
    await _headline_answer(db, now, config)
    return SeedSummary(
        counts=dict(gen.counts),
        elapsed=time.perf_counter() - started,
        backend="SQLite" if sqlite else "PostgreSQL",
        phases=phases,
    )


async def _run_cancellable(load: _SqliteLoad) -> None:
    """Run the load in a worker thread; if we are cancelled (Ctrl-C), stop it and wait for its rollback."""
    job = asyncio.ensure_future(asyncio.to_thread(load.run))
    try:
        await asyncio.shield(job)
    except asyncio.CancelledError:
        load.cancel()
        try:
            await job  # the rollback, so that nothing is half-written when we return
        except SeedInterrupted:
            print(INTERRUPTED, file=sys.stderr)
        except BaseException:  # noqa: S110 - we are being cancelled; that is what the caller hears about
            pass
        raise


HEADLINE_REGION, HEADLINE_CUSTOMERS = "华东", 3


async def _headline_answer(db: Database, now: datetime, config: BusinessConfig) -> None:
    """The source story's first question, 「查看华东区昨日延迟TOP3客户」, has an answer on any day the data is
    seeded: when fewer than three East China customers have orders that fell due yesterday and are late, the
    oldest open East China orders of other customers become due yesterday with a customs-inspection delay.
    Deterministic for the same arguments, like the rest of the seed."""
    from sqlalchemy import update

    from orderbot.core.models import Customer, Delay, Order, OrderEvent
    from orderbot.core.reports.common import effective_due, is_delayed

    today = now.astimezone(ZoneInfo(config.timezone)).date()
    yesterday = today - timedelta(days=1)
    async with db.write(heavy=True) as s:  # over every order of the region: ~1.3 s at a million
        late = set(
            (
                await s.execute(
                    select(Order.customer_id)
                    .join(Customer, Customer.id == Order.customer_id)
                    .where(Customer.region == HEADLINE_REGION, effective_due() == yesterday, is_delayed(s, today))
                    .distinct()
                )
            ).scalars()
        )
        if len(late) >= HEADLINE_CUSTOMERS:
            return
        candidates = (
            await s.execute(
                select(Order.id, Order.customer_id, Order.origin, Order.status, Order.stage)
                .join(Customer, Customer.id == Order.customer_id)
                .where(
                    Customer.region == HEADLINE_REGION,
                    Order.status.in_(("paid", "shipped")),
                    Order.delivered_at.is_(None),
                    Order.created_at <= now - timedelta(days=3),
                )
                .order_by(Order.id)
                .limit(200)
            )
        ).all()
        carrier = (
            await s.execute(
                select(CarrierClause.carrier_code)
                .where(CarrierClause.clause_no == "5.1")
                .order_by(CarrierClause.carrier_code)
                .limit(1)
            )
        ).scalar()
        supervisor = next((st.id for st in config.staff if "sales_supervisor" in st.roles), None)
        for order_id, customer_id, origin, status, stage in candidates:
            if len(late) >= HEADLINE_CUSTOMERS:
                break
            if customer_id in late:
                continue
            late.add(customer_id)
            # A supervisor had promised yesterday (the override wins over the lane formula, and says who and why).
            await s.execute(
                update(Order)
                .where(Order.id == order_id)
                .values(
                    promised_override=yesterday,
                    override_by=supervisor,
                    override_at=now - timedelta(days=2),
                    override_reason="客户要求提前到货，主管确认",
                )
            )
            cause = "美国海关抽中查验，清关滞留"
            s.add(
                Delay(
                    order_id=order_id,
                    reason=DELAY_RECORDED["清关查验"],
                    lane=f"{origin}-洛杉矶",
                    cause=cause,
                    carrier_code=carrier,
                    clause_no="5.1" if carrier else None,
                    delay_days=2,
                    recorded_at=now - timedelta(hours=20),
                    category="customs_inspection",
                )
            )
            s.add(
                OrderEvent(
                    order_id=order_id,
                    at=now - timedelta(hours=20),
                    kind="delay",
                    stage=stage,
                    status=status,
                    source=SOURCE,
                    detail=f"{cause}，预计延误2天",
                )
            )


async def run_seed(
    database_url: str,
    *,
    orders: int,
    days: int,
    seed: int,
    config: BusinessConfig,
    progress: bool,
    now: datetime | None = None,
) -> SeedSummary:
    """What `orderbot seed` and `orderbot demo` call: build a database, seed it, report; refuses politely."""
    db = Database.from_url(database_url)
    try:
        return await seed_database(db, orders=orders, days=days, seed=seed, config=config, progress=progress, now=now)
    except SeedRefused as exc:
        return SeedSummary(refused=str(exc), backend=make_url(database_url).get_backend_name())
    finally:
        await db.dispose()
