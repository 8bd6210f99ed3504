"""The words this team uses, as data: cue words per evidence feature, slot values, and ASR slips.

Regions, provinces and channels come from `orderbot.core` (one source of truth); this module only adds how
people say them (区/地区 suffixes, English and pinyin names). Multi-word English entries are matched as
phrases before segmentation; everything else is a jieba token.
"""
from __future__ import annotations

from orderbot.core.channels import CHANNEL_ALIASES, CHANNELS
from orderbot.core.regions import PROVINCE_REGION, REGIONS

# ---- evidence features: word lists -----------------------------------------------------------------------
CUES: dict[str, tuple[str, ...]] = {
    "LOOKUP": ("查单", "到哪", "到哪了", "到哪儿", "到哪里", "在哪", "在哪儿", "在哪里", "物流", "轨迹", "物流状态",
               "状态", "进度", "跟踪", "追踪", "啥情况", "什么情况", "怎么样了", "发了没", "发货了吗", "签收",
               "什么时候能到", "啥时候到", "where", "where's", "wheres", "status", "track", "tracking", "trace",
               "locate", "lookup", "look up"),
    "QUERY": ("查", "查下", "查一下", "查查", "查询", "查看", "看看", "看下", "看一下", "check", "show", "find"),
    "ORDER": ("orders", "查单", "订单", "单子", "单号", "订单号", "运单", "运单号", "快递", "包裹", "定单", "这单", "order", "parcel",
              "package", "shipment"),
    "QUESTION": ("要不要", "需不需要", "用不用", "该不该", "是不是", "是否", "有没有", "吗", "呢", "哪", "哪里", "什么时候", "几号", "哪天", "多少", "怎么样", "啥时候", "?", "what",
                 "when", "how", "did", "does"),
    "ETA": ("预计交付", "交付", "交期", "交货期", "交付日期", "交付时间", "预计到货", "到货日期", "预计送达",
            "送达日期", "承诺日期", "承诺交期", "预计交付日期", "预计交付时间", "交货日期", "预计到达", "eta",
            "delivery date", "promised date", "due date", "delivery", "expected delivery"),
    "CHANGE": ("改", "改为", "改成", "改到", "改一下", "调整", "调整为", "调整到", "设为", "设成", "设置为", "推到",
               "推迟到", "延到", "延后到", "提前到", "更改", "修改", "变更", "换成", "set", "change", "update",
               "move", "push", "reschedule", "postpone"),
    "KAGUAN": ("customs stuck", "customs-stuck", "卡关", "扣关", "海关扣", "被扣", "扣货", "清关卡住", "清关滞留", "海关滞留", "卡海关", "被海关卡",
               "卡在海关", "海关卡住", "海关卡了", "卡在清关", "清关卡了", "海关扣了", "被海关扣", "海关扣住",
               "stuck in customs", "stuck at customs", "held up in customs", "customs hold", "held by customs", "held at customs"),
    "CUSTOMS": ("清关", "海关", "报关", "关务", "customs", "clearance"),
    "HOLD": ("人工", "转人工", "人工介入", "人工清关", "人工处理", "标记", "挂起", "暂扣", "hold", "flag", "mark", "manual"),
    "RELEASE": ("清关通过", "海关放行", "已清关", "通关了", "清关完了", "放了", "放掉", "放出去", "解除", "放行", "解除卡关", "取消卡关", "解卡", "撤销卡关", "解除人工", "清关完成", "清关好了",
                "已放行", "解除掉", "release", "unhold", "cleared", "lift the hold"),
    "DELAY": ("晚了", "迟了", "超时了", "晚到了", "延迟", "延误", "晚到", "迟到", "超时", "逾期", "拖延", "延期", "延时", "超期", "延迟单", "late",
              "delayed", "delay", "delays", "overdue"),
    "CUSTOMER": ("哪些客户", "哪个客户", "哪几个客户", "哪家客户", "哪几家客户", "which customers", "which customer", "客户", "买家", "顾客", "客人", "customer", "customers", "client", "clients", "accounts", "buyers"),
    "REASON": ("原因", "为什么", "为啥", "咋回事", "怎么回事", "啥原因", "什么原因", "归因", "主要原因", "根因",
               "why", "reason", "reasons", "cause", "causes", "caused"),
    "RANK": ("排行", "排名", "排行榜", "最多", "最严重", "最差", "最厉害", "top", "worst", "most", "ranking", "rank"),
    "PIPELINE": ("环节", "各环节", "节点", "各节点", "卡在哪", "卡哪", "卡在", "卡住", "阶段", "流程", "流转", "漏斗",
                 "堵", "堵在", "积压", "压单", "瓶颈", "pipeline", "stuck", "stage", "stages", "bottleneck",
                 "backlog", "funnel"),
    "NOW": ("现在", "此刻", "目前", "当前", "实时", "此时", "now", "currently", "right now"),
    "DAILY": ("日报", "日报表", "每日报告", "每日报表", "日报告", "每日简报", "每日汇总", "今日简报", "daily report",
              "daily"),
    "REPORT": ("报告", "报表", "汇总", "简报", "report", "summary"),
    "TREND": ("趋势", "走势", "曲线", "变化", "折线", "波动", "趋势图", "走势图", "折线图", "trend", "trends",
              "trending", "chart", "graph", "over time"),
    "CHANNEL_WORD": ("渠道", "店铺", "平台", "channel", "store", "shop"),
    "INTAKE": ("接单", "进单", "新单", "orders"),
    "FREEZE": ("停接单", "封了", "封禁", "封掉", "frozen", "冻结", "暂停", "停掉", "停止接单", "关停", "先停", "停一下", "停了", "别接", "不接", "停接", "封掉",
               "先别接", "关闭", "freeze", "pause", "halt", "suspend", "stop"),
    "UNFREEZE": ("解封", "解禁", "重新接单了", "可以接单了", "stop freezing", "quit freezing", "解冻", "重新接单", "恢复接单", "重新开放", "重新开启", "放开", "unfreeze", "unpause", "reopen"),
    "RESUME": ("back on", "恢复", "重开", "打开", "开启", "重新打开", "开放", "恢复推送", "resume", "restore", "turn on",
               "enable", "switch on", "turn back on"),
    "INVENTORY": ("库存", "存货", "现货", "可用库存", "库存量", "在途", "可售", "可售天数", "余量", "余货", "有货",
                  "stock", "inventory", "on hand", "available"),
    "INV_WEAK": ("还剩", "剩", "剩多少", "还有多少", "多少货", "还有吗", "left", "remaining", "how many", "how much"),
    "STOCKOUT": ("断货", "缺货", "卖断", "卖完", "售罄", "卖光", "不够卖", "撑不住", "断供", "stockout",
                 "stock out", "run out", "runs out", "sell out", "sold out", "out of stock"),
    "SURGE": ("涌入", "爆单", "突然", "多来", "再来", "暴增", "激增", "大促", "来了", "surge", "spike", "extra",
              "influx", "more orders"),
    "SKU_WORD": ("sku", "skus", "货", "商品", "产品", "货品", "款"),
    "PREDICT": ("预测", "预估", "会不会", "forecast", "predict"),
    "SCAN": ("扫码", "扫描", "扫枪", "扫码枪", "错扫", "扫错", "漏扫", "scan", "scans", "scanning",
             "scanned", "scanner"),
    "ACCURACY": ("准确率", "正确率", "准确", "准不准", "错误率", "出错", "错误", "错了", "差错", "accuracy",
                 "accurate", "errors", "mistakes", "error"),
    "PACKING": ("打包", "拣货", "分拣", "包装", "packing", "packer", "packers", "picking"),
    "STATS": ("统计", "数据", "情况", "表现", "绩效", "stats", "statistics", "performance"),
    "ALERT": ("告警", "报警", "预警", "提醒", "警报", "通知", "alert", "alerts", "alarm", "alarms", "notification",
              "notifications", "warning", "warnings"),
    "MUTE": ("静默", "屏蔽", "别报", "不要报", "别再报", "免打扰", "关闭", "关掉", "关了", "先关", "静音", "暂停",
             "别推", "先别推", "别发", "不要推", "太吵", "mute", "silence", "snooze", "quiet", "shut up",
             "turn off", "disable", "hush"),
    "UNMUTE": ("stop muting", "stop silencing", "stop snoozing", "取消静默", "解除静默", "结束静默", "关闭静默", "解除屏蔽", "取消屏蔽", "别静默", "静默取消",
               "unmute", "unsilence", "unsnooze"),
    "HELP": ("使用指南", "指南", "帮助文档", "操作手册", "手册", "能干啥", "干啥用", "不会用", "教教我", "教我", "怎么问", "能问什么", "可以问什么", "问什么", "帮助", "你能做什么", "能做什么", "能干嘛", "能干什么", "会什么", "会啥", "都会啥", "怎么用", "怎么使用",
             "如何使用", "使用方法",
             "使用说明", "功能", "菜单", "命令", "指令", "用法", "教程", "help", "what can you do", "commands",
             "menu", "usage", "how to use"),
    # "help me find SO…" asks for something else politely; alone it still means help
    "HELP_WEAK": ("help me", "help with", "can you help"),
    # ---- the questions people really ask (order.list, customer.orders, report.metric, task.list) ----
    "LIST": ("列", "哪些", "有哪些", "哪几单", "哪几个", "哪几笔", "哪些单", "哪些单子", "哪些订单", "列出", "列一下", "列个",
             "清单", "列表", "明细", "都有啥", "有啥", "都有哪些", "是哪些", "哪几张", "which", "which orders", "list",
             "list all", "what orders", "show all"),
    "DOCS": ("资料没齐", "资料不全", "资料不齐", "缺资料", "报关资料", "单证", "单证不全", "缺单证", "缺文件", "文件没齐",
             "资料没交", "资料没给", "资料还没", "报关文件", "清关资料", "没齐", "不全", "docs missing",
             "missing documents", "missing docs", "missing paperwork", "documents missing", "paperwork",
             "customs documents", "customs docs"),
    "RETURNS_PENDING": ("haven't been received", "not been received", "not received yet", "not yet received", "退货没入库", "退货未入库", "退货还没入库", "退货没到仓", "退货未到仓", "退货没收到",
                        "退货未收到", "退回没入库", "退货没回来", "退货还没到", "returns not received",
                        "returns pending", "pending returns", "returns not back", "returns not checked in"),
    "WAITING_STOCK": ("等货", "等库存", "缺货等待", "待补货", "缺货的单", "等补货", "缺货订单", "因缺货", "等到货",
                      "waiting for stock", "waiting stock", "backorder", "backordered", "back order",
                      "awaiting stock"),
    "UNSCANNED": ("haven't been scanned", "hasn't been scanned", "not been scanned", "not scanned yet", "no scan", "no scans", "without scan", "without scans", "没扫码", "未扫码", "没扫", "还没扫", "没有扫码", "漏扫", "未扫描", "没扫描", "unscanned",
                  "not scanned", "never scanned", "without a scan"),
    "REVIEW": ("被冻结扣住", "冻结扣住", "冻结扣着", "冻结扣下", "冻结时扣下", "被冻结扣下", "冻结期间的", "待审核", "审核", "待审", "审核中", "等审核", "冻结期间", "被扣下", "held for review", "review",
               "pending review", "on hold for review", "held orders"),
    "APPROVE": ("通过", "过审", "审核通过", "通过审核", "批准", "审过", "审批通过", "放单", "approve", "approved", "approve held"),
    "COUNT_Q": ("多少订单", "多少笔", "单量多少", "多少", "一共", "总共", "总计", "合计", "几单", "多少单", "多少个", "几个", "多少件", "多大", "多高",
                "how many", "how much", "total", "number of", "count of", "what's the", "what is the", "what was the"),
    "RECEIVE": ("stock in", "stocked in", "put away", "入库", "收货", "到货入库", "入仓", "上架", "进货", "到货", "收到货", "receive", "received",
                "receiving", "receipt", "goods in", "book in", "check in"),
    "BATCH": ("批次", "批号", "batch", "lot"),
    "STOCKCOUNT": ("盘点", "盘库", "实盘", "盘了", "盘下来", "实际库存", "实点", "stock count", "stocktake",
                   "stock take", "cycle count", "counted", "physical count"),
    "TASK": ("要干啥", "干啥活", "有啥活", "什么活", "要做什么", "要做啥", "活儿", "have to do", "need to do", "待办", "待办事项", "任务", "工单", "没处理", "待处理", "要处理", "还没处理", "未处理", "事项", "代办",
             "todo", "todos", "to-do", "to do", "tasks", "task", "my tasks", "open tasks", "pending tasks"),
    "WHOAMI": ("你是谁", "你是干嘛的", "你是干什么的", "你是做什么的", "你干啥的", "你是啥", "介绍一下你自己",
               "能帮我什么", "能帮我干啥", "能帮我做什么", "可以做什么", "有什么功能", "有啥功能", "有哪些功能",
               "怎么玩", "说明书", "新手", "入门", "who are you", "what are you", "what do you do",
               "what can i ask", "how do i use", "how does this work", "what is this bot", "getting started",
               "instructions", "guide", "what can this bot do", "what can you help"),
}

# ---- slot values -----------------------------------------------------------------------------------------
METRIC_WORDS: dict[str, str] = {
    **dict.fromkeys(("多少单", "几单", "多少订单", "多少笔", "单量多少", "订单", "订单量", "单量", "下单量", "订单数", "单数", "orders", "order volume", "order count"),
                    "orders"),
    **dict.fromkeys(("发货", "发货量", "出库", "出库量", "发出", "发了", "发走", "寄出", "发出去", "发货单",
                     "shipped", "shipments", "shipping", "ship", "ships", "sent out", "dispatched"), "shipped"),
    **dict.fromkeys(("扫码量", "扫描量", "扫码数", "扫了", "scans", "scan count", "scanned"), "scans"),
    **dict.fromkeys(("延迟", "延误", "延迟单", "延迟单量", "延时", "delayed", "delays", "late", "delay"), "delayed"),
    **dict.fromkeys(("取消率", "取消", "取消单", "取消量", "cancel", "cancellations", "cancellation", "cancel rate",
                     "cancellation rate", "cancel_rate"), "cancel_rate"),
    **dict.fromkeys(("退了", "退回", "退货", "退货量", "退货率", "退款", "returns", "return", "refunds"), "returns"),
}
RULE_WORDS: dict[str, str] = {
    **dict.fromkeys(("取消率", "cancel_rate", "cancel rate", "cancellation rate"), "cancel_rate"),
    **dict.fromkeys(("退货未入库", "退货没入库", "退货未到仓", "退货没到仓", "退货未收到", "退货没收到",
                     "returns not received", "returns_not_received", "return not received"), "returns_not_received"),
    **dict.fromkeys(("重复下单", "重复订单", "重单", "repeat orders", "repeat_orders", "duplicate orders",
                     "repeat order"), "repeat_orders"),
    **dict.fromkeys(("卡关", "清关滞留", "清关卡住", "海关滞留", "customs stuck", "customs_stuck", "stuck in customs"),
                    "customs_stuck"),
    **dict.fromkeys(("天气", "恶劣天气", "台风", "暴雨", "暴雪", "weather"), "weather"),
}
# words that name a rule only when the message is about alerts ("静默退货告警", "mute customs alerts")
RULE_HINTS: dict[str, str] = {
    **dict.fromkeys(("退货", "returns", "return"), "returns_not_received"),
    **dict.fromkeys(("取消", "cancel", "cancellations", "cancellation"), "cancel_rate"),
    **dict.fromkeys(("重复", "duplicate", "repeat"), "repeat_orders"),
    **dict.fromkeys(("清关", "海关", "customs"), "customs_stuck"),
}
# polarity markers (polarity.py): UNDO and NEG features of the index
UNDO_WORDS = ("解除", "取消", "撤销", "撤回", "撤了", "撤掉", "撤下", "撤", "恢复", "放开", "放行", "去掉", "拿掉",
              "解掉", "作废", "不再需要", "undo", "lift", "lifted", "lifting", "cancel", "cancelled", "canceled",
              "revoke", "revoked", "remove", "removed", "reverse", "reversed", "resume", "release", "released",
              "turn back on", "back on", "take off", "end", "unblock", "drop", "withdraw", "roll back", "undone",
              "rolled back", "revert", "reverted", "call off", "called off", "scrap", "scrapped", "放出来", "结束",
              "终止", "停止", "off",
              "was a mistake", "by mistake", "搞错了", "弄错了")
NEG_WORDS = ("不要", "别", "不用", "不必", "无需", "没必要", "勿", "不", "不需要", "甭", "不再", "先别", "千万别",
             "don't", "dont", "do not", "no need to", "never", "not", "no longer", "shouldn't", "should not")

# order.list filters, by the words that name them (KAGUAN and DELAY words name theirs in `filter_words`)
FILTER_BY_FEATURE: dict[str, str] = {
    "DOCS": "docs_missing", "RETURNS_PENDING": "returns_pending", "WAITING_STOCK": "waiting_stock",
    "UNSCANNED": "unscanned", "REVIEW": "held_review", "KAGUAN": "customs_stuck", "DELAY": "delayed",
}
# task.list scopes (INTENTS.md): a team's words, everyone, or the asker
SCOPE_WORDS: dict[str, str] = {
    **dict.fromkeys(("仓库", "仓储", "库房", "warehouse"), "warehouse"),
    **dict.fromkeys(("关务", "报关", "海关", "清关", "customs"), "customs"),
    **dict.fromkeys(("物流", "logistics", "shipping team"), "logistics"),
    **dict.fromkeys(("售后", "客服", "after sales", "after-sales", "aftersales", "customer service", "support"),
                    "after_sales"),
    **dict.fromkeys(("销售", "业务", "sales"), "sales"),
    **dict.fromkeys(("所有", "全部", "全员", "大家", "所有人", "全公司", "everyone", "all", "everybody", "whole team"),
                    "all"),
}
TEAM_WORDS = ("仓库", "团队", "全员", "大家", "所有人", "全仓", "整个仓库", "全体", "team", "everyone", "warehouse",
              "whole warehouse", "all packers", "the team", "whole team")
ME_WORDS = ("我", "我的", "本人", "my", "me", "mine")

_REGION_EN = {
    "华东": ("east china", "eastern china", "east"),
    "华南": ("south china", "southern china", "south"),
    "华北": ("north china", "northern china", "north"),
    "华中": ("central china", "central"),
    "西南": ("southwest", "south west", "southwest china", "south-west"),
    "西北": ("northwest", "north west", "northwest china", "north-west"),
    "东北": ("northeast", "north east", "northeast china", "north-east"),
}
_PROVINCE_EN = {
    "上海": "shanghai", "江苏": "jiangsu", "浙江": "zhejiang", "安徽": "anhui", "福建": "fujian", "江西": "jiangxi",
    "山东": "shandong", "广东": "guangdong", "广西": "guangxi", "海南": "hainan", "北京": "beijing",
    "天津": "tianjin", "河北": "hebei", "山西": "shanxi", "内蒙古": "inner mongolia", "河南": "henan",
    "湖北": "hubei", "湖南": "hunan", "重庆": "chongqing", "四川": "sichuan", "贵州": "guizhou", "云南": "yunnan",
    "西藏": "tibet", "陕西": "shaanxi", "甘肃": "gansu", "青海": "qinghai", "宁夏": "ningxia", "新疆": "xinjiang",
    "辽宁": "liaoning", "吉林": "jilin", "黑龙江": "heilongjiang",
}
_PROVINCE_FULL = {"广西": "广西壮族自治区", "内蒙古": "内蒙古自治区", "西藏": "西藏自治区", "宁夏": "宁夏回族自治区",
                  "新疆": "新疆维吾尔自治区"}


def region_words() -> dict[str, str]:
    """华东, 华东区, 华东地区, 华东大区, East China … → 华东."""
    words = {}
    for region in REGIONS:
        for suffix in ("", "区", "地区", "大区", "片区", "区域"):
            words[region + suffix] = region
        for en in _REGION_EN[region]:
            words[en] = region
    return words


def province_words() -> dict[str, str]:
    """浙江, 浙江省, 上海市, 广西壮族自治区, zhejiang … → the short name used in `province`."""
    words = {}
    for province in PROVINCE_REGION:
        for suffix in ("", "省", "市"):
            words[province + suffix] = province
        if province in _PROVINCE_FULL:
            words[_PROVINCE_FULL[province]] = province
        words[_PROVINCE_EN[province]] = province
    return words


def channel_words() -> dict[str, str]:
    """Every alias of core.channels plus the canonical codes themselves."""
    words = dict(CHANNEL_ALIASES)
    words.update({code: code for code in CHANNELS})
    words.update({"tiktokshop": "tiktok", "tik tok": "tiktok", "ali express": "aliexpress", "e-bay": "ebay"})
    return words


# ---- speech-recognition slips and common typos: heard → meant ------------------------------------------------
# Only strings of two or more characters that are not words in their own right, so replacing them is safe.
HOMOPHONES: dict[str, str] = {
    "华冬": "华东", "画东": "华东", "华男": "华南", "华楠": "华南", "西楠": "西南",
    "言迟": "延迟", "严迟": "延迟", "延池": "延迟", "颜迟": "延迟",
    "日暴": "日报", "日抱": "日报",
    "酷存": "库存", "裤存": "库存", "库村": "库存", "苦存": "库存",
    "动结": "冻结", "冻洁": "冻结", "栋结": "冻结", "解动": "解冻", "姐冻": "解冻",
    "卡官": "卡关", "卡观": "卡关", "请关": "清关", "轻关": "清关",
    "静墨": "静默", "敬默": "静默", "禁默": "静默", "净默": "静默",
    "告井": "告警", "高警": "告警",
    "扫马": "扫码", "扫吗": "扫码",
    "准确绿": "准确率", "取消绿": "取消率", "取消律": "取消率", "退货绿": "退货率",
    "亚马孙": "亚马逊", "压马逊": "亚马逊", "亚麻逊": "亚马逊", "速卖同": "速卖通", "素卖通": "速卖通",
    "速麦通": "速卖通", "独立战": "独立站", "抖音夸境": "抖音跨境", "易背": "易贝", "特姆": "temu", "特木": "temu",
    "提姆": "temu",
    "趋是": "趋势", "区势": "趋势", "走式": "走势",
    "断获": "断货", "段货": "断货", "天汽": "天气", "预计叫付": "预计交付",
}
