"""Order total, in Python: prices each item from the KV table ``prices`` (key = SKU,
value = unit price) and returns the order's total. Needs the grant ``kv:prices``; a SKU
without a price fails with ``UnknownSku``."""

import sandflow_task as sf


def handler(order):
    items = order.get("items") or []
    if not items:
        raise sf.Failure("InvalidOrder", "the order has no items")
    total = 0.0
    for item in items:
        price = sf.kv_get("prices", item["sku"])
        if price is None:
            raise sf.Failure("UnknownSku", f"no price for {item['sku']}")
        total += price * item.get("quantity", 1)
    sf.log(f"order {order.get('orderId')} totals {total:.2f}")
    return {"orderId": order.get("orderId"), "total": round(total, 2), "currency": order.get("currency", "USD")}


WitWorld = sf.task(handler)
