"""Reading Stripe objects across API versions: the endpoint's version decides the shape of its events.

Before 2025-03-31.basil a subscription carried its period and an invoice its subscription and line types;
since then they live on the subscription items and under `parent` (Stripe's changelog for basil:
"deprecate subscription current period start and end", "adds new parent field to invoicing objects").
"""

from typing import Any


def subscription_period(subscription: dict[str, Any]) -> tuple[int, int]:
    if subscription.get("current_period_start") is not None:
        return int(subscription["current_period_start"]), int(subscription["current_period_end"])
    item = _first_item(subscription)
    return int(item["current_period_start"]), int(item["current_period_end"])


def subscription_price(subscription: dict[str, Any]) -> tuple[str, str]:
    """The first item's price id and the item's id."""
    item = _first_item(subscription)
    price = item.get("price") or {}
    return str(price.get("id") if isinstance(price, dict) else price or ""), str(item.get("id") or "")


def _first_item(subscription: dict[str, Any]) -> dict[str, Any]:
    items: list[dict[str, Any]] = (subscription.get("items") or {}).get("data") or [{}]
    return items[0]


def invoice_subscription_id(invoice: dict[str, Any]) -> str:
    if invoice.get("subscription"):
        return str(invoice["subscription"])
    details = ((invoice.get("parent") or {}).get("subscription_details")) or {}
    return str(details.get("subscription") or "")


def _line_price(line: dict[str, Any]) -> str:
    price = line.get("price") or ((line.get("pricing") or {}).get("price_details") or {}).get("price") or ""
    return str(price.get("id") if isinstance(price, dict) else price)


def _is_proration(line: dict[str, Any]) -> bool:
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    return bool(line.get("proration") or details.get("proration"))


def invoice_proration_lines(invoice: dict[str, Any]) -> list[tuple[int, str, dict[str, int]]]:
    """(amount in cents, price id, period) of each proration line: a credit (< 0) for the old price's unused
    time, a charge (> 0) for the new price's."""
    lines = (invoice.get("lines") or {}).get("data", [])
    return [(int(line.get("amount") or 0), _line_price(line), line["period"]) for line in lines if _is_proration(line)]


def invoice_period_line(invoice: dict[str, Any]) -> tuple[dict[str, int], str] | None:
    """The period and price id of the invoice's first subscription line that is not a proration."""
    for line in (invoice.get("lines") or {}).get("data", []):
        parent = line.get("parent") or {}
        if parent.get("type") == "subscription_item_details":
            if (parent.get("subscription_item_details") or {}).get("proration"):
                continue
            price = ((line.get("pricing") or {}).get("price_details") or {}).get("price") or ""
        elif line.get("type") == "subscription" and not line.get("proration"):
            price = line.get("price") or {}
        else:
            continue
        price_id = price.get("id") if isinstance(price, dict) else price
        return line["period"], str(price_id or "")
    return None
