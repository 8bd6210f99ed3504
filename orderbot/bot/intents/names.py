"""Names the vocabulary does not hold: a customer or a person, found by how people write them.

A known customer or staff name is a word of the index (`index.py`); these patterns catch the rest, so that
"上海某某公司的订单到哪了" still asks for a customer's orders and "王小明今天的扫码" is never read as the asker's own
figures. The value is kept as written; the parser marks it unknown and the dispatcher asks back.
"""

from __future__ import annotations

import re

# what people put before a name in a request, stripped from the front of a candidate
_LEAD = re.compile(
    r"^(?:呃|嗯|那个|麻烦|请|帮忙|帮我|给我|帮|你|我想|我要|想)*"
    r"(?:查一下|查下|查查|查询|查看|查|看一下|看下|看看|看|问一下|问下|问问|找一下|找下|找)?"
    r"(?:一下)?(?:客户|顾客|买家)?"
)
_COMPANY_END = (
    "有限公司",
    "公司",
    "贸易",
    "商贸",
    "科技",
    "集团",
    "商行",
    "工厂",
    "实业",
    "电子",
    "五金",
    "国际",
    "进出口",
    "供应链",
    "电器",
    "服饰",
    "家居",
    "百货",
    "商城",
    "旗舰店",
    "专卖店",
    "厂",
    "店",
    "行",
)
# "<name>的订单/单子/货": an order word, then the words right before it
_ORDER_WORD = re.compile(r"\s*(?:的|家的|那边的)?\s*(?:所有)?(?:订单|单子|货|包裹|那批货)")
_NAME_BEFORE = re.compile(r"[\u4e00-\u9fffa-z0-9&.·()（）]{2,30}$")
_TRIGGER = re.compile(r"订单|单子|货|包裹|客户|顾客|买家|order|customer")
_AFTER_CUSTOMER = re.compile(r"(?:客户|顾客|买家)\s*[:：]?\s*([\u4e00-\u9fffa-z0-9&.·]{2,30}?)\s*(?:的|家|$)")
_EN_CUSTOMER = re.compile(
    r"(?:orders?\s+(?:of|for|from)\s+(?:customer\s+)?|customer\s+)([a-z][a-z0-9&.' ]{1,40}?)"
    r"(?:'s)?(?:\s+orders?)?\s*(?:$|[?.!,])"
)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
# a Chinese personal name (or 小王/老张) right before what is asked about them
_PERSON = re.compile(
    rf"(?:^|(?<=[查看问给帮下]))((?:小|老|阿)[{_SURNAMES}]|[{_SURNAMES}][\u4e00-\u9fff]{{1,2}}?)"
    r"(?=\s*(?:的|今天|昨天|前天|本周|这周|上周|这个月|本月|上个月|最近|近|扫|打包|拣货|准确|出错|错|这|那|$))"
)
_EN_PERSON = re.compile(r"(?<![a-z])([a-z]{2,20})'s\s+(?:scan|scans|scanning|accuracy|errors|tasks|todo)")
_NOT_NAMES = frozenset(
    {
        "我的",
        "全员",
        "全仓",
        "全体",
        "大家",
        "所有",
        "团队",
        "仓库",
        "整个",
        "关务",
        "物流",
        "售后",
        "销售",
        "客服",
        "今天",
        "本人",
        "自己",
        "高峰",
        "金额",
        "江浙",
        "石家庄",
        "龙华",
        "万一",
        "周末",
        "周一",
        "程序",
        "方便",
        "任何",
        "任务",
        "白天",
        "黄金",
        "何时",
        "孔雀",
        "马上",
        "许多",
        "石头",
        "董事",
        "史上",
        "常规",
        "汤姆",
        "文件",
        "陆续",
        "华东",
        "华南",
        "华北",
        "华中",
        "江苏",
        "江西",
    }
)
_EN_NOT_NAMES = frozenset(
    {
        "today",
        "yesterday",
        "team",
        "warehouse",
        "everyone",
        "week",
        "month",
        "my",
        "your",
        "today's",
        "yesterday's",
        "week's",
        "month's",
        "customer",
    }
)


def customer_written(text: str) -> str | None:
    """A customer named by words (as written), when the text asks about someone's orders, else None."""
    if not _TRIGGER.search(text):
        return None
    m = _AFTER_CUSTOMER.search(text)
    if m and _plausible(m.group(1)) and not m.group(1).startswith(("的", "们", "都", "有", "还", "是")):
        return m.group(1).strip()
    for m in _ORDER_WORD.finditer(text):
        before = _NAME_BEFORE.search(text, max(0, m.start() - 30), m.start())
        if not before:
            continue
        candidate = _LEAD.sub("", before.group(0)).strip()
        if _plausible(candidate) and candidate.endswith(_COMPANY_END):
            return candidate
    m = _EN_CUSTOMER.search(text)
    if m:
        name = m.group(1).strip()
        if name and not name.startswith(("c0", "the ", "this", "that", "my ")) and len(name) >= 3:
            return name
    return None


def _plausible(name: str) -> bool:
    name = name.strip()
    return len(name) >= 2 and not name.isdigit() and " " not in name.strip("() ")


def person_written(text: str) -> str | None:
    """A person's name written before what is asked about them (王小明今天的扫码, 小王的待办, tom's scans)."""
    for m in _PERSON.finditer(text):
        name = m.group(1)
        if name not in _NOT_NAMES and not any(name.startswith(w) for w in _NOT_NAMES):
            return name
    m = _EN_PERSON.search(text)
    if m and m.group(1) not in _EN_NOT_NAMES:
        return m.group(1)
    return None


class CustomerDirectory:
    """Stored customer names, searchable by a part ("某某贸易" → "杭州某某贸易") through a character-pair index."""

    def __init__(self, names: tuple[str, ...]):
        self._names = names
        self._exact = set(names)
        self._pairs: dict[str, set[int]] = {}
        for i, name in enumerate(names):
            key = name.lower()
            for k in range(len(key) - 1):
                self._pairs.setdefault(key[k : k + 2], set()).add(i)

    def match(self, part: str) -> str | None:
        """The one stored name that contains `part`, or None (none, or several)."""
        if part in self._exact:
            return part
        key = part.lower()
        if len(key) < 2:
            return None
        found: set[int] | None = None
        for k in range(len(key) - 1):
            ids = self._pairs.get(key[k : k + 2], set())
            found = ids if found is None else found & ids
            if not found:
                return None
        hits = [self._names[i] for i in found or () if key in self._names[i].lower()]
        return hits[0] if len(hits) == 1 else None
