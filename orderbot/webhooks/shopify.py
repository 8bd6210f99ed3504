"""Shopify's Order resource → the generic order form. Shopify's fulfilment never ships an order here: the
warehouse scan is the only source of shipping truth, so only payment and cancellation are taken from it."""
from __future__ import annotations

from orderbot.config import BusinessConfig

_PAID = {"paid", "partially_paid", "partially_refunded"}


def shopify_to_order(p: dict, config: BusinessConfig) -> tuple[dict, dict[str, dict]]:
    """Returns the generic order dict and the catalogue entries (sku → name, weight) for unknown SKUs."""
    shop = config.shopify
    cust = p.get("customer") or {}
    addr = p.get("shipping_address") or {}
    name = " ".join(x for x in (cust.get("first_name"), cust.get("last_name")) if x) or addr.get("company")
    status = "cancelled" if p.get("cancelled_at") else (
        "paid" if p.get("financial_status") in _PAID else "pending")
    lines, products = [], {}
    for item in p.get("line_items") or []:
        qty = int(item.get("current_quantity", item.get("quantity", 0)) or item.get("quantity", 0))
        if qty <= 0:
            continue
        sku = (item.get("sku") or f"SHOPIFY-{item['variant_id']}").strip().upper()
        lines.append({"sku": sku, "qty": qty})
        products[sku] = {"name": item.get("title") or item.get("name") or sku, "weight_g": item.get("grams") or 0}
    order = {
        "order_no": f"SO{int(p['id'])}",
        "channel": shop.channel,
        "channel_order_id": p.get("name") or str(p.get("order_number") or p["id"]),
        "customer": {"id": f"SHOPIFY-{cust['id']}" if cust.get("id") else f"SHOPIFY-{p.get('email') or p['id']}",
                     "name": name, "email": cust.get("email") or p.get("email")},
        "amount": p.get("current_total_price") or p.get("total_price") or "0",
        "currency": p.get("currency") or "USD",
        "origin": shop.origin,
        "urgency": shop.urgency,
        "dest_country": addr.get("country_code"),
        "created_at": p.get("created_at"),
        "updated_at": p.get("updated_at"),
        "notes": p.get("note"),
        "status": status,
        "cancel_reason": p.get("cancel_reason"),
        "lines": lines,
    }
    return order, products
