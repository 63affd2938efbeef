"""Legacy backend: the seeded catalog (bulk, delta, price, stock) and the basket with its promotions.

Promotions are computed here, never by the caller: PRM-0001 10 % off audio, PRM-0002 buy 2 get 1 free on
accessories (the cheapest of every three units is free), PRM-0003 £50 off when the goods come to £500
or more after the other promotions.
"""

from __future__ import annotations

from typing import Any

from simulators.core.behaviours import Reply, Request, SimContext
from simulators.core.clock import parse_instant

from .legacy import (
    decode_cursor,
    encode_cursor,
    legacy,
    not_found,
    operation,
    page_size,
    problem,
    public,
    remember,
    rule,
    stale,
)
from .legacy_customers import load_customer

CHANGE_RETENTION_S = 30 * 86400
LOW_STOCK = 5
MAX_LINE_QTY = 99
AUDIO_PERCENT, THRESHOLD, THRESHOLD_OFF = 10, 50000, 5000
# The first five are the contract's examples; the rest fill the categories (~40 products in all).
SEED: list[tuple[str, str, int, int]] = [
    ("Aurora X5 Smartphone 128GB", "phones", 49900, 25), ("Nimbus 14 Laptop 16GB", "laptops", 89900, 8),
    ("Clarity 55in 4K TV", "tv", 59900, 0), ("Pulse Wireless Earbuds", "audio", 7999, 120),
    ("USB-C Charger 30W", "accessories", 1999, 300), ("Aurora X5 Pro 256GB", "phones", 69900, 12),
    ("Aurora Mini 64GB", "phones", 29900, 40), ("Zephyr Fold 512GB", "phones", 149900, 3),
    ("Koda A2 Smartphone 64GB", "phones", 17900, 60), ("Nimbus 16 Laptop 32GB", "laptops", 129900, 5),
    ("Nimbus Air 13 Laptop", "laptops", 74900, 14), ("Forge 17 Gaming Laptop", "laptops", 179900, 2),
    ("Scribe 11 Chromebook", "laptops", 27900, 30), ("Clarity 43in 4K TV", "tv", 37900, 18),
    ("Clarity 65in OLED TV", "tv", 189900, 4), ("Vista 32in HD TV", "tv", 17900, 22),
    ("Vista 50in 4K TV", "tv", 44900, 9), ("Pulse Over-Ear Headphones", "audio", 19900, 45),
    ("Pulse Sport Earbuds", "audio", 5999, 80), ("Echo Bar Soundbar", "audio", 29900, 15),
    ("Echo Mini Speaker", "audio", 3999, 150), ("Echo Max Party Speaker", "audio", 24900, 7),
    ("Turntable Classic", "audio", 14900, 6), ("USB-C Cable 1m", "accessories", 999, 500),
    ("USB-C Cable 2m", "accessories", 1299, 400), ("Phone Case Aurora X5", "accessories", 1499, 250),
    ("Screen Protector Aurora X5", "accessories", 899, 350), ("Laptop Sleeve 14in", "accessories", 2499, 90),
    ("Wireless Mouse", "accessories", 1999, 120), ("HDMI Cable 2m", "accessories", 799, 300),
    ("Power Bank 10000mAh", "accessories", 2999, 75), ("Breeze Cordless Vacuum", "appliances", 19900, 40),
    ("Breeze Robot Vacuum", "appliances", 34900, 10), ("Frost 300L Fridge Freezer", "appliances", 54900, 6),
    ("Spin 9kg Washing Machine", "appliances", 44900, 8), ("Brew Espresso Machine", "appliances", 29900, 20),
    ("Crisp Air Fryer 5L", "appliances", 9900, 55), ("Kettle Rapid 1.7L", "appliances", 3999, 100),
    ("Toast 4-Slice Toaster", "appliances", 4999, 0), ("Chill Tower Fan", "appliances", 5999, 1),
]
ON_OFFER = {"SKU-00006": 64900, "SKU-00018": 17900}  # sku -> offer price (was_price = the list price)


def sku_of(n: int) -> str:
    return f"SKU-{n:05d}"


@legacy.on_reset
def seed_catalog(sim: SimContext) -> None:
    """~40 products across phones, laptops, tv, audio, accessories and appliances."""
    now, ts = sim.clock.iso(), sim.clock.timestamp()
    for i, (name, category, price, stock) in enumerate(SEED, start=1):
        sku = sku_of(i)
        offer = ON_OFFER.get(sku)
        sim.store.put("products", sku, {
            "sku": sku, "name": name, "category": category,
            "price": {"amount": offer or price, "currency": "GBP"}, "stock": stock, "active": True,
            "updated_at": now, "_was": {"amount": price, "currency": "GBP"} if offer else None,
            "_reserved": 0, "_created_ts": ts, "_changed_ts": ts, "_deleted": False})


def product_or_404(sim: SimContext, sku: str) -> dict[str, Any]:
    p = sim.store.get("products", sku)
    if p is None or p["_deleted"]:
        raise not_found("Product", sku)
    return p


def change_product(sim: SimContext, p: dict[str, Any], **changes: Any) -> None:
    """Write a product change (stock, price, deletion): it shows in the delta feed from now on."""
    remember(sim, p)
    p.update(changes)
    p["updated_at"], p["_changed_ts"] = sim.clock.iso(), sim.clock.timestamp()
    sim.store.put("products", p["sku"], p)


def product_view(p: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in public(p).items()}


@operation("listProducts")
def list_products(req: Request, sim: SimContext) -> Reply:
    """The catalog by sku, one page at a time (never more than max_page_size: follow next_cursor)."""
    after_sku = decode_cursor(req.query.get("cursor"), "sku") or ""
    category = req.query.get("category")
    items = [p for _, p in sorted(sim.store.items("products")) if not p["_deleted"] and p["sku"] > after_sku
             and (not category or p["category"] == category)]
    size = page_size(sim, req)
    page = items[:size]
    more = len(items) > size
    return Reply(200, {"items": [product_view(p) for p in page],
                       "next_cursor": encode_cursor(f"sku:{page[-1]['sku']}") if more else None})


@operation("listProductChanges")
def list_changes(req: Request, sim: SimContext) -> Reply:
    """Products changed after `since` (one entry each, oldest first), up to one server_time per walk."""
    since_ts = parse_instant(str(req.query["since"])).timestamp()
    now = sim.clock.timestamp()
    if since_ts < now - CHANGE_RETENTION_S:
        raise problem(410, "changes-expired", "Change history expired",
                      "Changes are kept for 30 days; do a full catalogue load.")
    state = decode_cursor(req.query.get("cursor"), "chg")
    server_ts, offset = now, 0
    if state:
        try:
            server, off = state.split("|")
            server_ts, offset = float(server), int(off)
        except ValueError:
            raise problem(400, "invalid-cursor", "Invalid cursor", "Pass the next_cursor of a previous page.",
                          errors=[{"pointer": "/cursor", "message": "not a cursor this API returned"}]) from None
    changed = sorted((p for _, p in sim.store.items("products") if since_ts < p["_changed_ts"] <= server_ts),
                     key=lambda p: (p["_changed_ts"], p["sku"]))
    size = page_size(sim, req)
    page = changed[offset:offset + size]
    items = []
    for p in page:
        change = "deleted" if p["_deleted"] else ("created" if p["_created_ts"] > since_ts else "updated")
        items.append({"change": change, "sku": p["sku"], "changed_at": p["updated_at"],
                      "product": None if p["_deleted"] else product_view(p)})
    more = offset + size < len(changed)
    from simulators.core.clock import utc_iso

    return Reply(200, {"items": items, "server_time": utc_iso(server_ts),
                       "next_cursor": encode_cursor(f"chg:{server_ts!r}|{offset + size}") if more else None})


@operation("getPrice")
def get_price(req: Request, sim: SimContext) -> Reply:
    """The current price; on offer it carries was_price and valid_until (end of the month)."""
    p = product_or_404(sim, req.path_params["sku"])
    valid_until = None
    if p["_was"]:
        now = sim.clock.now()
        nxt = now.replace(year=now.year + (now.month == 12), month=now.month % 12 + 1, day=1, hour=0, minute=0,
                          second=0, microsecond=0)
        from simulators.core.clock import utc_iso

        valid_until = utc_iso(nxt.timestamp() - 1)
    return Reply(200, {"sku": p["sku"], "price": p["price"], "was_price": p["_was"], "valid_until": valid_until,
                       "as_of": p["updated_at"]})


@operation("getStock")
def get_stock(req: Request, sim: SimContext) -> Reply:
    """Stock from the replica: may lag a sale by a moment (stale_read_rate)."""
    p = stale(sim, product_or_404(sim, req.path_params["sku"]))
    available = p["stock"]
    status = "out_of_stock" if available == 0 else ("low_stock" if available <= LOW_STOCK else "in_stock")
    return Reply(200, {"sku": p["sku"], "available": available, "reserved": p["_reserved"], "status": status,
                       "as_of": p["updated_at"]})


# ----------------------------------------------------------------------------------------------- pricing
def priced_lines(sim: SimContext, items: list[dict[str, Any]], pointer: str = "/items") -> list[dict[str, Any]]:
    """Basket or sale items with names, categories and current prices; unknown SKUs are a 422."""
    lines = []
    for i, item in enumerate(items):
        p = sim.store.get("products", item["sku"])
        if p is None or p["_deleted"] or not p["active"]:
            raise rule(f"{pointer}/{i}/sku", "a product of the catalog", item["sku"], "unknown product",
                       f"Product {item['sku']} is not sold.")
        lines.append({"sku": p["sku"], "name": p["name"], "quantity": item["quantity"],
                      "unit_price": p["price"]["amount"], "line_total": p["price"]["amount"] * item["quantity"],
                      "category": p["category"]})
    return lines


def promotions(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The promotions these lines earn, in the order they apply."""
    applied = []
    audio = sum(line["line_total"] for line in lines if line["category"] == "audio")
    if audio:
        applied.append({"promotion_id": "PRM-0001", "kind": "percentage_off_category",
                        "description": f"{AUDIO_PERCENT}% off audio", "amount": round(audio * AUDIO_PERCENT / 100)})
    units = sorted((line["unit_price"] for line in lines if line["category"] == "accessories"
                    for _ in range(line["quantity"])), reverse=True)
    free = sum(units[2::3])
    if free:
        applied.append({"promotion_id": "PRM-0002", "kind": "buy_2_get_1",
                        "description": "Buy 2 get 1 free on accessories", "amount": free})
    goods = sum(line["line_total"] for line in lines) - sum(p["amount"] for p in applied)
    if goods >= THRESHOLD:
        applied.append({"promotion_id": "PRM-0003", "kind": "threshold_discount",
                        "description": "£50 off when you spend £500", "amount": THRESHOLD_OFF})
    return applied


def check_stock(sim: SimContext, lines: list[dict[str, Any]]) -> None:
    """409 out of stock for the first line that asks for more than is available."""
    for line in lines:
        p = sim.store.get("products", line["sku"])
        assert p is not None
        if p["stock"] < line["quantity"]:
            raise problem(409, "out-of-stock", "Out of stock", f"Only {p['stock']} of {p['sku']} available.",
                          sku=p["sku"], available=p["stock"])


# ----------------------------------------------------------------------------------------------- basket
def basket_view(sim: SimContext, customer_id: str) -> dict[str, Any]:
    """The basket with current prices and the promotions the backend applies."""
    basket = sim.store.get("baskets", customer_id) or {"items": [], "updated_at": sim.clock.iso()}
    lines = priced_lines(sim, [i for i in basket["items"] if _sold(sim, i["sku"])])
    promos = promotions(lines)
    subtotal = sum(line["line_total"] for line in lines)
    discount = sum(p["amount"] for p in promos)
    return {"customer_id": customer_id, "items": lines, "promotions": promos, "subtotal": subtotal,
            "discount_total": discount, "total": subtotal - discount, "currency": "GBP",
            "updated_at": basket["updated_at"]}


def _sold(sim: SimContext, sku: str) -> bool:
    p = sim.store.get("products", sku)
    return p is not None and not p["_deleted"] and p["active"]


def _set_quantity(sim: SimContext, customer_id: str, sku: str, quantity: int, *, add: bool) -> dict[str, Any]:
    basket = sim.store.get("baskets", customer_id) or {"items": []}
    line = next((i for i in basket["items"] if i["sku"] == sku), None)
    if not add and line is None:
        raise not_found("Basket line", sku)
    wanted = (line["quantity"] if line and add else 0) + quantity
    if wanted > MAX_LINE_QTY:
        raise rule("/quantity", f"at most {MAX_LINE_QTY} per line", wanted, "quantity over the per-line limit",
                   f"A basket line holds at most {MAX_LINE_QTY}; this would make {wanted}.")
    if wanted:
        priced = priced_lines(sim, [{"sku": sku, "quantity": wanted}], "/sku" if add else "")
        check_stock(sim, priced)
    if line is None:
        basket["items"].append({"sku": sku, "quantity": wanted})
    elif wanted == 0:
        basket["items"].remove(line)
    else:
        line["quantity"] = wanted
    basket["updated_at"] = sim.clock.iso()
    sim.store.put("baskets", customer_id, basket)
    return basket_view(sim, customer_id)


@operation("getBasket")
def get_basket(req: Request, sim: SimContext) -> Reply:
    """The basket (empty if none) with promotions and totals computed here."""
    c = load_customer(sim, req.path_params["customer_id"])
    return Reply(200, basket_view(sim, c["id"]))


@operation("addBasketItem")
def add_item(req: Request, sim: SimContext) -> Reply:
    """Add to a line (at most 99; not more than in stock: 409)."""
    with sim.store.transaction():
        c = load_customer(sim, req.path_params["customer_id"])
        return Reply(200, _set_quantity(sim, c["id"], req.body["sku"], req.body["quantity"], add=True))


@operation("updateBasketItem")
def update_item(req: Request, sim: SimContext) -> Reply:
    """Set a line's quantity (0 removes it); a SKU not in the basket is a 404."""
    with sim.store.transaction():
        c = load_customer(sim, req.path_params["customer_id"])
        return Reply(200, _set_quantity(sim, c["id"], req.path_params["sku"], req.body["quantity"], add=False))


@operation("removeBasketItem")
def remove_item(req: Request, sim: SimContext) -> Reply:
    """Remove a line; a SKU not in the basket is a 404."""
    with sim.store.transaction():
        c = load_customer(sim, req.path_params["customer_id"])
        return Reply(200, _set_quantity(sim, c["id"], req.path_params["sku"], 0, add=False))


# ----------------------------------------------------------------------------------------------- states
@legacy.state("product-stock", "product {sku} has stock {stock}", sku="SKU-00001", stock=1)
def state_stock(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """Set a product's stock (e.g. 1 to race two sales for the last item)."""
    p = product_or_404(sim, str(params["sku"]))
    change_product(sim, p, stock=int(params["stock"]))
    return {"sku": p["sku"], "stock": p["stock"]}


@legacy.state("product-price", "product {sku} costs {amount}", sku="SKU-00001", amount=44900)
def state_price(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """Change a product's price (shows in the delta feed; makes expected_total checks fail)."""
    p = product_or_404(sim, str(params["sku"]))
    change_product(sim, p, price={"amount": int(params["amount"]), "currency": "GBP"})
    return {"sku": p["sku"], "price": p["price"]}


@legacy.state("product-deleted", "product {sku} is deleted", sku="SKU-00003")
def state_deleted(sim: SimContext, params: dict[str, Any]) -> dict[str, Any]:
    """Withdraw a product: gone from the catalog, 'deleted' in the delta feed."""
    p = product_or_404(sim, str(params["sku"]))
    change_product(sim, p, _deleted=True, active=False)
    return {"sku": p["sku"], "deleted": True}
