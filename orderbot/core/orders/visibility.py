"""Field visibility by role and stage: the one projection every reader of an order goes through.

The seed's lesson: every role sees only the tenth of the record it needs. The five first-screen fields are
shown to everyone; each role adds the fields the config gives it; some fields are hidden from some roles
whatever else they hold (warehouse never sees customer notes); some appear only at certain stages (finance
sees the tax-exemption number only once the order is at invoicing, i.e. declared for export or later).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orderbot.config import VisibilityConfig

# The sales roles (a salesperson, their supervisor, the director) see the same fields.
_SALES: tuple[str, ...] = (
    "messages",
    "notes",
    "customer_province",
    "customer_region",
    "sales_owner",
    "override",
    "cancel_reason",
    "currency",
    "customer_tags",
)

# What each role sees beyond the first screen unless the config says otherwise.
DEFAULT_ROLE_FIELDS: dict[str, tuple[str, ...]] = {
    "_base": (
        "status",
        "stage",
        "stage_name",
        "status_name",
        "progress",
        "channel",
        "channel_order_id",
        "dest_country",
        "promised_date",
        "promised_overridden",
        "created_at",
        "shipped_at",
        "delivered_at",
        "tracking_no",
        "customer_name",
        "customs_hold",
        "review_hold",
        "lines",
        "timeline",
        "trace",
        "stock_held",
        "tasks",
        "packages",
        "tracking_status",
        "customs_state",
        "expected_delivery",
        "eta_cause",
    ),
    "sales": _SALES,
    "sales_supervisor": _SALES,
    "sales_director": _SALES,
    "key_account": (
        "messages",
        "notes",
        "customer_province",
        "customer_region",
        "sales_owner",
        "currency",
        "customer_tags",
    ),
    "customer_service": (
        "messages",
        "notes",
        "customer_province",
        "customer_email",
        "customer_openid",
        "cancel_reason",
        "override",
        "currency",
        "customer_tags",
    ),
    "customs": ("customs_grade", "customs_hold_reason", "carrier", "customs_docs"),
    "warehouse": ("customs_grade", "carrier"),
    "warehouse_lead": ("customs_grade", "carrier"),
    "finance": ("invoice_status", "currency", "cancel_reason"),
    "logistics": ("carrier", "customs_grade", "customer_province"),
    "channel_ops": ("cancel_reason", "currency", "customer_tags"),
    "after_sales_supervisor": ("messages", "notes", "cancel_reason", "customer_email"),
    "management": (*_SALES, "customs_grade", "invoice_status", "carrier", "customs_docs"),
    "admin": ("*",),
}


def visible_fields(roles: Iterable[str], stage: str, rules: VisibilityConfig) -> frozenset[str] | None:
    """The set of field names these roles may see at this stage; None means everything (admin)."""
    roles = list(roles)
    fields: set[str] = set(rules.first_screen)
    if roles:
        fields.update(DEFAULT_ROLE_FIELDS["_base"])
    for role in roles:
        extra = rules.roles.get(role, DEFAULT_ROLE_FIELDS.get(role, ()))
        if "*" in extra:
            return None
        fields.update(extra)
    for field, gates in rules.stage_gated.items():
        fields.discard(field)
        if any(stage in gates.get(role, ()) for role in roles):
            fields.add(field)
    for role in roles:
        fields.difference_update(rules.hidden.get(role, ()))
    fields.update(rules.first_screen)  # never hidden
    return frozenset(fields)


def project(
    view: Mapping[str, Any], roles: Iterable[str], rules: VisibilityConfig, *, in_group: bool = False
) -> dict[str, Any]:
    """Keep only what the roles may see at the view's stage; in group chats private fields are masked."""
    allowed = visible_fields(roles, view["stage"], rules)
    out = {k: v for k, v in view.items() if allowed is None or k in allowed}
    if in_group:
        for k in rules.group_private:
            if k in out and out[k]:
                out[k] = "***"
    return out
