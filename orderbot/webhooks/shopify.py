"""Shopify's Order resource → the generic order form. Shopify's fulfilment never ships an order here: the
warehouse scan is the only source of shipping truth, so only payment and cancellation are taken from it.

Shopify retries anything but a 2xx for hours, so a shape that cannot be an order (customer as a string, line
items not a list) is a 400 naming the field (`ShopifyShapeError`), and shopper-typed text that merely does not
fit our columns is made to fit: a product title is shortened, an over-long email is dropped (the order still
enters; the customer is then not reachable by email). Lengths come from the model's columns.
"""

from __future__ import annotations

from orderbot.config import BusinessConfig
from orderbot.core.models import Customer, Product
from orderbot.core.orders.schema import column_length

_PAID = {"paid", "partially_paid", "partially_refunded"}
MAX_GRAMS = 1_000_000  # a tonne: anything heavier is a data error, kept as "weight unknown"


class ShopifyShapeError(ValueError):
    """A field of the wrong JSON type; `field` is its dotted path."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field


def _obj(p: dict, key: str) -> dict:
    value = p.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ShopifyShapeError(key, "应为JSON对象")
    return value


def _text(d: dict, key: str, where: str) -> str | None:
    value = d.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ShopifyShapeError(f"{where}{key}", "应为字符串")
    return str(value)


def _int(d: dict, key: str, where: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, str))
        or not str(value).lstrip("-").isdigit()
        or len(str(value)) > 20
    ):
        raise ShopifyShapeError(f"{where}{key}", "应为整数")
    return int(value)


def _fits(value: str | None, column) -> str | None:
    return value if value is None or len(value) <= column_length(column) else None


def shopify_to_order(p: dict, config: BusinessConfig) -> tuple[dict, dict[str, dict]]:
    """Returns the generic order dict and the catalogue entries (sku → name, weight) for unknown SKUs."""
    shop = config.shopify
    order_id = _int(p, "id", "")
    if order_id is None:
        raise ShopifyShapeError("id", "缺少订单 id")
    cust, addr = _obj(p, "customer"), _obj(p, "shipping_address")
    name = " ".join(
        x for x in (_text(cust, "first_name", "customer."), _text(cust, "last_name", "customer.")) if x
    ) or _text(addr, "company", "shipping_address.")
    status = "cancelled" if p.get("cancelled_at") else ("paid" if p.get("financial_status") in _PAID else "pending")
    items = p.get("line_items") or []
    if not isinstance(items, list):
        raise ShopifyShapeError("line_items", "应为数组")
    lines, products = [], {}
    for i, item in enumerate(items):
        where = f"line_items.{i}."
        if not isinstance(item, dict):
            raise ShopifyShapeError(f"line_items.{i}", "应为JSON对象")
        qty = _int(item, "current_quantity", where)
        qty = qty if qty is not None else (_int(item, "quantity", where) or 0)
        if qty <= 0:
            continue
        sku = _text(item, "sku", where) or f"SHOPIFY-{_int(item, 'variant_id', where)}"
        sku = sku.strip().upper()
        lines.append({"sku": sku, "qty": qty})
        title = _text(item, "title", where) or _text(item, "name", where) or sku
        grams = _int(item, "grams", where) or 0
        products[sku] = {
            "name": title[: column_length(Product.name)],
            "weight_g": grams if 0 <= grams <= MAX_GRAMS else 0,
        }  # out of range: weight unknown
    email = _fits(_text(cust, "email", "customer.") or _text(p, "email", ""), Customer.email)
    cust_id = _int(cust, "id", "customer.")
    by_email = f"SHOPIFY-{email}" if email else None
    if by_email is None or len(by_email) > column_length(Customer.id):
        by_email = f"SHOPIFY-{order_id}"
    order = {
        "order_no": f"SO{order_id}",
        "channel": shop.channel,
        "channel_order_id": _text(p, "name", "") or str(_text(p, "order_number", "") or order_id),
        "customer": {
            "id": f"SHOPIFY-{cust_id}" if cust_id else by_email,
            "name": name[: column_length(Customer.name)] if name else None,
            "email": email,
        },
        "amount": p.get("current_total_price") or p.get("total_price") or "0",
        "currency": _text(p, "currency", "") or "USD",
        "origin": shop.origin,
        "urgency": shop.urgency,
        "dest_country": _text(addr, "country_code", "shipping_address."),
        "created_at": p.get("created_at"),
        "updated_at": p.get("updated_at"),
        "notes": _text(p, "note", ""),
        "status": status,
        "cancel_reason": _text(p, "cancel_reason", ""),
        "lines": lines,
    }
    return order, products
