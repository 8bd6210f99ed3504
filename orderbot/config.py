"""The business configuration: one TOML file that operations staff edit without code.

Loaded and validated at start-up. Every problem is reported with the file, line and dotted key, so a typo is
found by `orderbot check-config` or at start, never at 3 a.m.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ROLES = frozenset(
    {
        "admin",
        "management",
        "sales",
        "sales_supervisor",
        "sales_director",
        "key_account",
        "customer_service",
        "customs",
        "warehouse",
        "warehouse_lead",
        "finance",
        "channel_ops",
        "logistics",
        "after_sales_supervisor",
        "product",
        "purchasing",
    }
)
Grade = Literal["A", "B", "C"]


def _only_known(values: list[str], known: Collection[str], what: str, listing: list[str]) -> list[str]:
    """A field validator's check that every value is one of `known`; the error names the strays and the choices."""
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; known {what}s: {listing}")
    return values


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaffEntry(_Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    roles: list[str] = Field(min_length=1)
    wecom_userid: str | None = None
    wecom_open_userid: str | None = None  # what a member-created WeCom AI bot sends instead of the userid ("wo…")
    dingtalk_userid: str | None = None
    email: str | None = None

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, v: list[str]) -> list[str]:
        return _only_known(v, ROLES, "role", sorted(ROLES))


class GroupEntry(_Strict):
    name: str
    platform: Literal["wecom_app", "wecom_robot", "wecom_aibot", "dingtalk", "sandbox"] = "sandbox"
    chat_id: str | None = None  # wecom_aibot: the chatid the AI bot sees; webhook_key then is the fallback
    webhook_key: str | None = None
    receives: list[str] = []


class EtaLane(_Strict):
    origin: str
    dest: str
    days: int = Field(ge=0, le=120)


class EtaConfig(_Strict):
    default_days: int = Field(default=8, ge=0, le=120)
    lanes: list[EtaLane] = [EtaLane(origin="深圳", dest="US", days=5)]

    def days_for(self, origin: str | None, dest: str | None) -> int:
        for lane in self.lanes:
            if lane.origin == origin and lane.dest == (dest or "").upper():
                return lane.days
        return self.default_days


class CustomsConfig(_Strict):
    default_grade: Grade = "A"
    categories: dict[str, Grade] = {}

    def grade_for(self, category: str | None) -> str:
        return self.categories.get(category or "", self.default_grade)


class HazmatEntry(_Strict):
    note: str
    packing_instruction: str
    mark: str


class VisibilityConfig(_Strict):
    """Which order fields each role sees. The five first-screen fields are always visible."""

    first_screen: list[str] = ["order_no", "customer_id", "amount", "origin", "urgency"]
    roles: dict[str, list[str]] = {}
    hidden: dict[str, list[str]] = {"warehouse": ["notes"], "warehouse_lead": ["notes"]}
    stage_gated: dict[str, dict[str, list[str]]] = {
        "tax_exempt_no": {"finance": ["customs", "overseas_wh", "last_mile", "delivered"]},
    }
    group_private: list[str] = ["notes", "tax_exempt_no", "customer_email", "customer_openid"]


class RuleConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    enabled: bool = True
    mode: Literal["auto", "suggest"] = "auto"
    threshold: float | None = None
    window_hours: float | None = None
    min_volume: int | None = None
    owners: list[str] = []
    repeat_minutes: int = Field(default=240, ge=1)


class DutyConfig(_Strict):
    """Lead on duty per weekday (mon..sun) with an optional fallback."""

    warehouse_lead: dict[str, str] = {}
    fallback: str | None = None


class ShopifyConfig(_Strict):
    """How Shopify orders enter: which channel code, shipped from which warehouse, at which urgency."""

    channel: str = "shopify"
    origin: str = "深圳"
    urgency: Literal["normal", "urgent", "critical"] = "normal"


class MpTemplate(_Strict):
    """A WeChat Official Account template: its id and which template key carries each of our fields."""

    template_id: str
    keys: dict[str, str]


class WeChatMpConfig(_Strict):
    templates: dict[str, MpTemplate] = {}


class Warehouse(_Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class CourierConfig(_Strict):
    """The courier batch: which warehouses it ships from (for the weather check), what pauses it, and what
    happens when the weather API cannot be asked (`fail_safe`: "pause" holds the batch, "run" ships anyway;
    either way it is announced)."""

    enabled: bool = True
    warehouses: dict[str, Warehouse] = {"深圳": Warehouse(lat=22.54, lon=114.06)}
    pause_colors: list[str] = ["red"]
    fail_safe: Literal["pause", "run"] = "pause"
    owners: list[str] = ["logistics"]
    max_orders: int = Field(default=500, ge=1)


class DelayCausesConfig(_Strict):
    """How a carrier's exception becomes a delay cause category (codes of `core.causes.CAUSES`): words in the
    carrier's message first (checked in this order, case-insensitive), then the provider's sub status."""

    keywords: dict[str, list[str]] = {
        "port_congestion": ["port strike", "strike", "port congestion", "congestion", "罢工", "港口", "拥堵"],
        "weather": [
            "weather",
            "typhoon",
            "hurricane",
            "storm",
            "snow",
            "flood",
            "天气",
            "台风",
            "暴雨",
            "暴雪",
            "寒潮",
        ],
        "address": ["address", "地址"],
        "lost_damaged": ["lost", "damage", "missing", "destroyed", "丢失", "破损", "损坏", "遗失"],
        "carrier_capacity": ["capacity", "backlog", "high volume", "运力", "爆仓", "积压", "舱位"],
        "customs_inspection": ["customs", "inspection", "clearance", "海关", "查验", "清关"],
    }
    sub_statuses: dict[str, str] = {
        "InTransit_CustomsRequiringInformation": "customs_inspection",
        "Exception_Security": "customs_inspection",
        "DeliveryFailure_Security": "customs_inspection",
        "DeliveryFailure_InvalidAddress": "address",
        "Exception_Lost": "lost_damaged",
        "Exception_Damage": "lost_damaged",
        "Exception_Destroyed": "lost_damaged",
    }

    @model_validator(mode="after")
    def _known_causes(self) -> DelayCausesConfig:
        from orderbot.core.causes import CAUSES  # a plain dict module: no import cycle

        for where, codes in (("keywords", self.keywords), ("sub_statuses", self.sub_statuses.values())):
            unknown = sorted({c for c in codes if c not in CAUSES})
            if unknown:
                raise ValueError(f"delay_causes.{where}: unknown cause(s) {unknown}; known: {sorted(CAUSES)}")
        return self


class TasksConfig(_Strict):
    """Tasks (待办): how long each type may stay open before it is overdue (its owner is reminded once), and
    which team owns each type (a team's members see its tasks in 我的待办; its leads in 仓库待办/关务待办 …)."""

    due_hours: dict[str, float] = {
        "scan_exception": 4,
        "customs_docs": 24,
        "customs_stuck": 8,
        "no_tracking": 8,
        "tracking_stale": 24,
        "returns_audit": 48,
        "follow_up": 24,
        "channel_conflict": 24,
    }
    default_due_hours: float = Field(default=24, gt=0)
    teams: dict[str, list[str]] = {
        "warehouse": ["scan_exception"],
        "customs": ["customs_docs", "customs_stuck"],
        "logistics": ["tracking_stale", "no_tracking", "returns_audit"],
        "after_sales": ["returns_audit"],
        "sales": ["follow_up", "channel_conflict"],
    }

    def due_for(self, task_type: str) -> float:
        return self.due_hours.get(task_type, self.default_due_hours)


class WarehouseConfig(_Strict):
    """`[warehouse]`: who may ship by scanning a package label (roles from the staff directory's role list)."""

    scan_roles: list[str] = Field(default=["warehouse", "warehouse_lead"], min_length=1)

    @field_validator("scan_roles")
    @classmethod
    def _known_scan_roles(cls, v: list[str]) -> list[str]:
        return _only_known(v, ROLES, "role", sorted(ROLES))


class SchedulerConfig(_Strict):
    """Jobs and when they run (times are local to `timezone`, HH:MM)."""

    enabled: bool = True
    rules_every_minutes: float = Field(default=5, gt=0)
    tracking_stale_hours: float = Field(default=72, gt=0)
    daily_report_at: str = "09:00"
    my_customers_at: str = "09:05"
    courier_batch_at: list[str] = ["10:00", "16:00"]
    performance_sheet_at: str = "08:30"  # on the 1st: last month's packer performance sheet to the leads
    lease_seconds: float = Field(default=30, ge=5, le=300)

    @field_validator("daily_report_at", "my_customers_at", "performance_sheet_at")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        _check_hhmm(v)
        return v

    @field_validator("courier_batch_at")
    @classmethod
    def _hhmm_list(cls, v: list[str]) -> list[str]:
        for item in v:
            _check_hhmm(item)
        return v


def _check_hhmm(value: str) -> None:
    hh, sep, mm = value.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and 0 <= int(hh) < 24 and 0 <= int(mm) < 60 and len(mm) == 2):
        raise ValueError(f"'{value}' is not a time of day as HH:MM")


class ClauseEntry(_Strict):
    """One contract clause of a carrier: which delay causes (codes of `core.causes.CAUSES`) it covers."""

    no: str = Field(min_length=1, max_length=16)
    title: str = ""
    text: str = Field(min_length=1)
    causes: list[str] = []
    compensation: str | None = None

    @field_validator("causes")
    @classmethod
    def _known_causes(cls, v: list[str]) -> list[str]:
        from orderbot.core.causes import CAUSES

        return _only_known(v, CAUSES, "cause", list(CAUSES))


class CarrierEntry(_Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    clauses: list[ClauseEntry] = []

    @field_validator("clauses")
    @classmethod
    def _unique_clauses(cls, v: list[ClauseEntry]) -> list[ClauseEntry]:
        nos = [c.no for c in v]
        dupes = sorted({n for n in nos if nos.count(n) > 1})
        if dupes:
            raise ValueError(f"clause numbers must be unique per carrier; repeated: {dupes}")
        return v


class PurchasingConfig(_Strict):
    """Who receives the purchase tasks the stockout forecast opens: staff ids (else everyone with the
    `purchasing` role)."""

    staff: list[str] = []


class BusinessConfig(_Strict):
    timezone: str = "Asia/Shanghai"
    staff: list[StaffEntry] = []
    groups: dict[str, GroupEntry] = {}
    duty: DutyConfig = DutyConfig()
    eta: EtaConfig = EtaConfig()
    customs: CustomsConfig = CustomsConfig()
    hazmat: dict[str, HazmatEntry] = {}
    visibility: VisibilityConfig = VisibilityConfig()
    rules: dict[str, RuleConfig] = {}
    shopify: ShopifyConfig = ShopifyConfig()
    wechat_mp: WeChatMpConfig = WeChatMpConfig()
    courier: CourierConfig = CourierConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    delay_causes: DelayCausesConfig = DelayCausesConfig()
    tasks: TasksConfig = TasksConfig()
    carriers: list[CarrierEntry] = []
    purchasing: PurchasingConfig = PurchasingConfig()
    warehouse: WarehouseConfig = WarehouseConfig()

    @model_validator(mode="after")
    def _cross_refs(self) -> BusinessConfig:
        ids = [s.id for s in self.staff]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"staff ids must be unique; repeated: {dupes}")
        known = set(ids)
        for day, who in self.duty.warehouse_lead.items():
            if day not in {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}:
                raise ValueError(f"duty.warehouse_lead: '{day}' is not a weekday (mon..sun)")
            if known and who not in known:
                raise ValueError(f"duty.warehouse_lead.{day}: '{who}' is not in the staff list")
        codes = [c.code for c in self.carriers]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"carrier codes must be unique; repeated: {repeated}")
        for who in self.purchasing.staff:
            if known and who not in known:
                raise ValueError(f"purchasing.staff: '{who}' is not in the staff list")
        return self

    def staff_by_id(self) -> dict[str, StaffEntry]:
        return {s.id: s for s in self.staff}


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.key}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


EXAMPLE_CONFIG = Path(__file__).parent / "data" / "orderbot.example.toml"


def load_config(path: str | Path, *, required: bool = False) -> BusinessConfig:
    """Read and validate the business config. A missing optional file yields the built-in defaults."""
    p = Path(path)
    if not p.exists():
        if required:
            raise ConfigError([ConfigProblem(str(p), None, "-", "file not found")])
        return BusinessConfig()
    text = p.read_text(encoding="utf-8")
    return parse_config(text, str(p))


def parse_config(text: str, path: str = "<config>") -> BusinessConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError([ConfigProblem(path, int(m.group(1)) if m else None, "-", f"TOML syntax: {exc}")]) from exc
    try:
        return BusinessConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(x) for x in err["loc"]]
            key = ".".join(loc) or "-"
            problems.append(ConfigProblem(path, _locate(text, err["loc"]), key, err["msg"]))
        raise ConfigError(problems) from None


def _locate(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number of a validation error location in the TOML text."""
    lines = text.splitlines()
    parts = [p for p in loc if isinstance(p, str)]
    if not parts:
        return None
    # Find the deepest table header that matches a prefix of the location, counting array-of-tables.
    start, best = 0, None
    index = next((p for p in loc[1:2] if isinstance(p, int)), None)
    for depth in range(len(parts), 0, -1):
        header = ".".join(parts[:depth])
        pattern = re.compile(rf"^\s*\[\[?\s*{re.escape(header)}\s*\]\]?\s*$")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        if hits:
            pick = (
                hits[index]
                if index is not None and index < len(hits) and lines[hits[0]].strip().startswith("[[")
                else hits[0]
            )
            start, best = pick, pick + 1
            break
    key = parts[-1]
    key_pat = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for i in range(start, len(lines)):
        if i > start and lines[i].lstrip().startswith("[") and best is not None:
            break
        if key_pat.match(lines[i]):
            return i + 1
    return best
