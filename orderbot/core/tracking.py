"""Carrier tracking pushes: each provider's body parsed into one neutral `TrackingUpdate`, then applied to the order.

The neutral vocabulary is 17TRACK's main and sub statuses (`InTransit` / `InTransit_CustomsProcessing`), plus one
sub status of our own, `InTransit_OverseasWarehouse`, which only the generic door can send. AfterShip tags and
subtags are mapped onto it, so `orders.tracking_status` holds one vocabulary whatever the provider.

Parsing is pure (`parse_aftership`, `parse_17track`, `parse_generic`): a body in, an update (or `Ignored`) out,
`InvalidTrackingPayload` with a short Chinese reason for a body we cannot use. `apply_tracking_update` is the use
case: it runs inside the caller's unit of work, dedupes with `claim_event` in that same transaction, and changes
status and stage only through the order service, which validates each move and writes the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, UTC
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from orderbot.config import DelayCausesConfig
from orderbot.core.delays import record_delay
from orderbot.core.errors import DomainError, IllegalTransition
from orderbot.core.models import Order, Package
from orderbot.core.orders.schema import column_length
from orderbot.core.orders.service import add_event, change_status, move_stage
from orderbot.core.orders.states import STAGE_INDEX, STAGE_NAMES, Position, next_position
from orderbot.core.keys import fit_key
from orderbot.core.inbox import claim_event, mark_orphan

PROVIDERS = ("aftership", "17track", "generic")
KEY_MAX = 191  # inbound_events.key
_NUMBER_MAX = Order.tracking_no.property.columns[0].type.length  # a longer number cannot belong to any order

MAIN_STATUSES = (
    "NotFound",
    "InfoReceived",
    "InTransit",
    "Expired",
    "AvailableForPickup",
    "OutForDelivery",
    "DeliveryFailure",
    "Delivered",
    "Exception",
)
OVERSEAS_WH = "InTransit_OverseasWarehouse"  # ours: arrived at / shelved in the overseas warehouse
# Chinese label of every sub status (and of each main status, used when the sub status is unknown).
LABELS: dict[str, str] = {
    "NotFound": "暂无轨迹",
    "NotFound_Other": "暂无轨迹",
    "NotFound_InvalidCode": "运单号无效",
    "InfoReceived": "已生成面单，待揽收",
    "InTransit": "运输中",
    "InTransit_PickedUp": "已揽收",
    "InTransit_Other": "运输中",
    "InTransit_Departure": "已离开始发地",
    "InTransit_Arrival": "已到达目的国",
    "InTransit_CustomsProcessing": "清关中",
    "InTransit_CustomsReleased": "清关放行",
    "InTransit_CustomsRequiringInformation": "清关需补充资料",
    OVERSEAS_WH: "已到达海外仓",
    "Expired": "轨迹长时间无更新",
    "Expired_Other": "轨迹长时间无更新",
    "AvailableForPickup": "已到自提点，待取件",
    "AvailableForPickup_Other": "已到自提点，待取件",
    "OutForDelivery": "派送中",
    "OutForDelivery_Other": "派送中",
    "DeliveryFailure": "投递失败",
    "DeliveryFailure_Other": "投递失败",
    "DeliveryFailure_NoBody": "投递失败（无人签收）",
    "DeliveryFailure_Security": "投递失败（安检、清关或税费问题）",
    "DeliveryFailure_Rejected": "投递失败（收件人拒收）",
    "DeliveryFailure_InvalidAddress": "投递失败（地址错误）",
    "Delivered": "已签收",
    "Delivered_Other": "已签收",
    "Exception": "物流异常",
    "Exception_Other": "物流异常",
    "Exception_Returning": "退回中",
    "Exception_Returned": "已退回发件人",
    "Exception_NoBody": "物流异常（无人签收）",
    "Exception_Security": "物流异常（安检、清关或税费问题）",
    "Exception_Damage": "包裹破损",
    "Exception_Rejected": "收件人拒收",
    "Exception_Delayed": "运输延误",
    "Exception_Lost": "包裹丢失",
    "Exception_Destroyed": "包裹已销毁",
    "Exception_Cancel": "运单已取消",
}
SUB_STATUSES = frozenset(k for k in LABELS if "_" in k) | {"InfoReceived"}

# Customs, after the reference's "clearance stuck" suggestion: the timer starts at the first customs-in event
# (arrival in the destination country counts), stops at release; a hold for documents or a security/fee issue
# escalates at once.
CUSTOMS_IN = frozenset({"InTransit_CustomsProcessing", "InTransit_Arrival"})
CUSTOMS_HOLD = frozenset({"InTransit_CustomsRequiringInformation", "Exception_Security", "DeliveryFailure_Security"})
CUSTOMS_RELEASED = frozenset({"InTransit_CustomsReleased"})
_MAIN_STAGE = {
    "InTransit": "routing",
    "OutForDelivery": "last_mile",
    "AvailableForPickup": "last_mile",
    "DeliveryFailure": "last_mile",
}
_PROBLEM = frozenset({"Exception", "DeliveryFailure", "Expired"})
DELAY_STATUSES = frozenset({"Exception", "DeliveryFailure"})  # these (and a customs hold) are delay records

# AfterShip tag → 17TRACK main status; subtag → 17TRACK sub status where one fits (else "<main>_Other").
_AS_TAGS = {
    "Pending": "NotFound",
    "InfoReceived": "InfoReceived",
    "InTransit": "InTransit",
    "OutForDelivery": "OutForDelivery",
    "AttemptFail": "DeliveryFailure",
    "Delivered": "Delivered",
    "AvailableForPickup": "AvailableForPickup",
    "Exception": "Exception",
    "Expired": "Expired",
}
_AS_SUBTAGS = {
    "InTransit_002": "InTransit_PickedUp",  # acceptance scan
    "InTransit_004": "InTransit_Arrival",  # arrived at the destination country/region
    "InTransit_005": "InTransit_CustomsReleased",  # customs clearance completed
    "InTransit_006": "InTransit_CustomsProcessing",  # customs clearance started
    "Exception_003": "Exception_Rejected",
    "Exception_004": "Exception_Security",  # delayed (customs clearance)
    "Exception_005": "Exception_Delayed",
    "Exception_009": "Exception_Rejected",
    "Exception_010": "Exception_Returning",
    "Exception_011": "Exception_Returned",
    "Exception_012": "Exception_Damage",
    "Exception_013": "Exception_Lost",
    "Exception_016": "Exception_Delayed",
    "Exception_017": "Exception_Delayed",
    "Exception_018": "Exception_Security",  # incorrect / missing documents, held by regulators
}
_AS_EVENTS = frozenset({"tracking_update", "edd_revise"})


class InvalidTrackingPayload(DomainError):
    """A push we cannot use (missing or malformed field); the message is the 400 reason."""


@dataclass(frozen=True)
class TrackingUpdate:
    provider: str
    dedupe_key: str
    tracking_no: str
    status: str  # 17TRACK main status
    sub_status: str  # 17TRACK sub status (or ours)
    at: datetime | None  # when the carrier saw it; None when the provider does not say
    location: str | None = None
    message: str | None = None
    expected_delivery: date | None = None


@dataclass(frozen=True)
class Ignored:
    """A push that is acknowledged but carries no tracking status (e.g. 17TRACK `TRACKING_STOPPED`)."""

    event: str


@dataclass(frozen=True)
class Effect:
    stage: str | None = None  # where the order should at least be on the chain
    customs: str | None = None  # processing | info_required | released
    delivered: bool = False
    problem: bool = False  # an exception or delay: its message becomes the order's eta_cause


def effect_of(status: str, sub_status: str) -> Effect:
    """What an update means for the order; pure, so the mapping table in the README can be tested."""
    problem = status in _PROBLEM
    if sub_status in CUSTOMS_HOLD:
        return Effect("last_mile" if status == "DeliveryFailure" else "customs", "info_required", problem=True)
    if sub_status in CUSTOMS_IN:
        return Effect("customs", "processing")
    if sub_status in CUSTOMS_RELEASED:
        return Effect("customs", "released")
    if sub_status == OVERSEAS_WH:
        return Effect("overseas_wh")
    if status == "Delivered":
        return Effect(delivered=True)
    return Effect(_MAIN_STAGE.get(status), problem=problem)


def label(status: str, sub_status: str) -> str:
    return LABELS.get(sub_status) or LABELS.get(status) or f"物流状态更新（{sub_status or status}）"


# ---- parsing -------------------------------------------------------------------------------------------------


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidTrackingPayload(f"{what} 应为JSON对象")
    return value


def _obj_or_empty(value: Any) -> dict[str, Any]:
    """An optional JSON object: anything else counts as absent."""
    return value if isinstance(value, dict) else {}


TEXT_MAX = 500  # carrier messages and locations end up in cards and the order's delay cause


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()[:TEXT_MAX]
    return text or None


def _required(data: dict[str, Any], field: str, where: str = "", *, limit: int = 128) -> str:
    value = data.get(field)
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise InvalidTrackingPayload(f"缺少 {where}{field}")
    text = str(value).strip()
    if len(text) > limit:
        raise InvalidTrackingPayload(f"{where}{field} 超过 {limit} 个字符")
    return text


def _fit(value: str, column: InstrumentedAttribute[Any]) -> str:
    """A status that must fit its column (lengths from the model, not copied)."""
    if len(value) > column_length(column):
        raise InvalidTrackingPayload(f"状态 {value[:60]}… 过长")
    return value


def _time(value: Any, field: str, *, naive_ok: bool = False) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime; None if absent (or naive, where naive is tolerated)."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidTrackingPayload(f"{field} 不是 ISO 8601 时间：{value}") from None
    if parsed.tzinfo is None:
        if naive_ok:
            return None
        raise InvalidTrackingPayload(f"{field} 需要带时区，例如 2026-02-10T09:00:00+08:00")
    return parsed.astimezone(UTC)


def _date(value: Any, field: str) -> date | None:
    """A delivery date from 'YYYY-MM-DD' or an ISO datetime (its local date, as the carrier states it)."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise InvalidTrackingPayload(f"{field} 不是日期：{value}") from None


def _key(*parts: str) -> str:
    return fit_key("|".join(parts), KEY_MAX)


def parse_aftership(payload: Any) -> TrackingUpdate | Ignored:
    """AfterShip `tracking_update` / `edd_revise`; dedupe on `event_id` (UUID v4, one per webhook event)."""
    body = _obj(payload, "AfterShip 推送")
    event = _required(body, "event")
    if event not in _AS_EVENTS:
        return Ignored(event)
    event_id = _required(body, "event_id")
    msg = _obj(body.get("msg"), "msg")
    number = _required(msg, "tracking_number", "msg.", limit=_NUMBER_MAX)
    tag = _required(msg, "tag", "msg.")
    status = _AS_TAGS.get(tag, tag)
    subtag = _text(msg.get("subtag")) or ""
    sub_status = _AS_SUBTAGS.get(subtag) or (status if status == "InfoReceived" else f"{status}_Other")
    raw_checkpoints = msg.get("checkpoints")
    checkpoints = [c for c in raw_checkpoints if isinstance(c, dict)] if isinstance(raw_checkpoints, list) else []
    last = checkpoints[-1] if checkpoints else {}  # AfterShip lists checkpoints oldest first
    # checkpoint_time is the checkpoint's local time and may come without an offset; then the signed `ts`
    # (when AfterShip sent the push, seconds after the scan as a rule) is the better clock.
    at = _time(last.get("checkpoint_time"), "checkpoint_time", naive_ok=True)
    if at is None and isinstance(body.get("ts"), (int, float)) and not isinstance(body.get("ts"), bool):
        try:
            at = datetime.fromtimestamp(body["ts"], UTC)
        except (OverflowError, ValueError, OSError):
            raise InvalidTrackingPayload(f"ts 不是合理的时间戳：{body['ts']}") from None
    location = (
        _text(last.get("location"))
        or ", ".join(
            p for p in (_text(last.get(k)) for k in ("city", "state", "country_region_name", "country_name")) if p
        )
        or None
    )
    eta = None
    for field, nested in (
        ("expected_delivery", None),
        ("courier_estimated_delivery_date", "estimated_delivery_date"),
        ("latest_estimated_delivery", "datetime"),
        ("aftership_estimated_delivery_date", "estimated_delivery_date"),
    ):
        raw = msg.get(field)
        if nested and isinstance(raw, dict):
            raw = raw.get(nested)
        eta = _date(raw, f"msg.{field}") if isinstance(raw, str) else None
        if eta:
            break
    return TrackingUpdate(
        "aftership",
        _key(event_id),
        number,
        _fit(status, Order.tracking_status),
        _fit(sub_status, Order.tracking_status),
        at,
        location,
        _text(last.get("message")) or _text(msg.get("subtag_message")),
        eta,
    )


def parse_17track(payload: Any) -> TrackingUpdate | Ignored:
    """17TRACK v2.x `TRACKING_UPDATED`; dedupe on (number, latest event time, sub status), since 17TRACK sends
    no event id."""
    body = _obj(payload, "17TRACK 推送")
    event = _required(body, "event")
    if event != "TRACKING_UPDATED":
        return Ignored(event)  # TRACKING_STOPPED: the subscription ended, nothing moved
    data = _obj(body.get("data"), "data")
    number = _required(data, "number", "data.", limit=_NUMBER_MAX)
    info = _obj(data.get("track_info"), "data.track_info")
    latest = _obj(info.get("latest_status"), "data.track_info.latest_status")
    status = _required(latest, "status", "data.track_info.latest_status.")
    sub_status = _text(latest.get("sub_status")) or (status if status == "InfoReceived" else f"{status}_Other")
    event_info = _obj_or_empty(info.get("latest_event"))
    time_utc = _text(event_info.get("time_utc")) or _text(event_info.get("time_iso")) or ""
    at = _time(time_utc, "latest_event.time_utc") if time_utc else None
    metrics = _obj_or_empty(info.get("time_metrics"))
    window = _obj_or_empty(metrics.get("estimated_delivery_date"))
    # A window: promise the later end, as the conservative answer to "when will it arrive".
    eta = _date(window.get("to") or window.get("from"), "time_metrics.estimated_delivery_date")
    return TrackingUpdate(
        "17track",
        _key(number, time_utc, sub_status),
        number,
        _fit(status, Order.tracking_status),
        _fit(sub_status, Order.tracking_status),
        at,
        _text(event_info.get("location")),
        _text(event_info.get("description")),
        eta,
    )


def parse_generic(payload: Any) -> TrackingUpdate:
    """Our own push format (README): event_id, tracking_no, status, sub_status, at, location, message,
    expected_delivery; statuses are 17TRACK's, checked strictly since the sender can fix its own mapping."""
    body = _obj(payload, "轨迹推送")
    event_id = _required(body, "event_id")
    number = _required(body, "tracking_no", limit=_NUMBER_MAX)
    status = _required(body, "status")
    if status not in MAIN_STATUSES:
        raise InvalidTrackingPayload(f"未知的 status：{status}（应为 {'、'.join(MAIN_STATUSES)} 之一）")
    sub_status = _text(body.get("sub_status")) or (status if status == "InfoReceived" else f"{status}_Other")
    if sub_status not in SUB_STATUSES or not sub_status.startswith(status):
        raise InvalidTrackingPayload(f"sub_status {sub_status} 与 status {status} 不匹配或未知")
    at = _time(_required(body, "at"), "at")
    return TrackingUpdate(
        "generic",
        _key(event_id),
        number,
        status,
        sub_status,
        at,
        _text(body.get("location")),
        _text(body.get("message")),
        _date(body.get("expected_delivery"), "expected_delivery"),
    )


PARSERS = {"aftership": parse_aftership, "17track": parse_17track, "generic": parse_generic}


# ---- applying ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingResult:
    outcome: str  # updated | stale | duplicate | orphan
    order_no: str | None = None
    tracking_status: str | None = None


async def _find_order(session: AsyncSession, number: str) -> Order | None:
    """The order by its own tracking number or one of its packages'; locked for the rest of the transaction."""
    numbers = {number, number.upper()}
    by_package = select(Package.order_id).where(Package.tracking_no.in_(numbers))
    stmt = (
        select(Order)
        .where(or_(Order.tracking_no.in_(numbers), Order.id.in_(by_package)))
        .order_by(Order.id)
        .limit(1)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _plan(order: Order, effect: Effect) -> tuple[tuple[str, str] | None, str | None]:
    """The forward move an update asks for (("status"|"stage", target) or None) and, when the order cannot take
    it, why: a stage never moves back, and the state machine's own check (the one the service runs) decides the
    rest, so a refused move is recorded in the timeline, never an error to the carrier."""
    if effect.delivered and order.status != "delivered":
        move = ("status", "delivered")
    elif effect.stage and STAGE_INDEX[effect.stage] < STAGE_INDEX[order.stage]:
        return None, f"履约环节已在「{STAGE_NAMES[order.stage]}」，不回退"
    elif effect.stage and effect.stage != order.stage:
        move = ("stage", effect.stage)
    else:
        return None, None
    try:
        next_position(Position(order.status, order.stage), **{move[0]: move[1]})
    except IllegalTransition as exc:
        return None, exc.message
    return move, None


def _customs(order: Order, state: str, at: datetime) -> None:
    """Move the clearance state. The timer (`customs_in_at`) starts once, at the earliest customs-in or hold, and
    is never reset; a late 'processing' does not hide a hold or reopen a released clearance."""
    if state in ("processing", "info_required") and (order.customs_in_at is None or at < order.customs_in_at):
        order.customs_in_at = at
    if state == "processing" and order.customs_state not in (None, "processing"):
        return
    order.customs_state = state


async def apply_tracking_update(
    session: AsyncSession, upd: TrackingUpdate, *, now: datetime, payload: Any, causes: DelayCausesConfig | None = None
) -> TrackingResult:
    """Apply one push inside the caller's unit of work. A repeat delivery changes nothing; an unknown tracking
    number is kept in `inbound_events` (state 'orphan', with the raw payload) instead of being refused, because
    a carrier retries a refusal for days and the number only becomes known when the order is updated.

    An exception or a customs hold also becomes the order's delay record (`core.delays`), its cause category
    chosen by `causes` (the business config's `delay_causes`; the built-in mapping when None)."""
    source = f"tracking:{upd.provider}"
    if not await claim_event(session, source, upd.dedupe_key, now):
        return TrackingResult("duplicate")
    order = await _find_order(session, upd.tracking_no)
    if order is None:
        await mark_orphan(session, source, upd.dedupe_key, payload, f"没有找到运单号 {upd.tracking_no} 对应的订单")
        return TrackingResult("orphan")
    at = min(upd.at or now, now)  # a carrier clock ahead of ours must not put events in the future
    effect = effect_of(upd.status, upd.sub_status)
    kind = "customs" if effect.customs else "tracking"
    text = label(upd.status, upd.sub_status) + (f" · {upd.location}" if upd.location else "")
    if effect.problem and upd.message:
        text += f"：{upd.message}"
    tracking_status = upd.sub_status[:40]
    if order.tracking_at is not None and at < order.tracking_at:
        add_event(session, order, at=at, kind=kind, source=upd.provider, detail=text + "（晚到的较早轨迹，仅记录）")
        return TrackingResult("stale", order.order_no, order.tracking_status)

    move, refused = _plan(order, effect)
    notes = [refused] if refused else []
    if upd.expected_delivery and upd.expected_delivery != order.expected_delivery:
        notes.append(f"承运商预计 {upd.expected_delivery.isoformat()} 送达")
        order.expected_delivery = upd.expected_delivery
    add_event(
        session,
        order,
        at=at,
        kind=kind,
        source=upd.provider,
        detail=text + (f"（{'；'.join(notes)}）" if notes else ""),
    )

    order.tracking_status, order.tracking_at = tracking_status, at
    if effect.customs:
        _customs(order, effect.customs, at)
    if effect.problem:
        order.eta_cause = label(upd.status, upd.sub_status) + (f"：{upd.message}" if upd.message else "")
        if upd.status in DELAY_STATUSES or upd.sub_status in CUSTOMS_HOLD:
            await record_delay(
                session,
                order,
                rules=causes or DelayCausesConfig(),
                sub_status=upd.sub_status,
                message=upd.message,
                text=order.eta_cause,
                source=upd.provider,
                at=at,
                today=now.date(),
            )
    # Status and stage change only through the service (it writes their own timeline entries), at carrier time.
    if move == ("status", "delivered"):
        await change_status(session, order, "delivered", now=at, source=upd.provider, reason="承运商签收")
    elif move is not None:
        await move_stage(session, order, move[1], now=at, source=upd.provider)
    order.updated_at = now
    return TrackingResult("updated", order.order_no, tracking_status)
