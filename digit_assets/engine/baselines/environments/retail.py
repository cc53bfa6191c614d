"""Retail: customers, products, orders with statuses, payment methods with a gift-card balance, returns.

One environment, one module (a little over 500 lines): its tools share the same tables and rules.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from typing import Any

from faker import Faker

from digit_assets.engine.baselines.environments.base import (
    State,
    ToolBox,
    ToolError,
    array,
    choice,
    day,
    integer,
    money,
    obj,
    text,
)

ORDER_STATUSES = ["pending", "processing", "shipped", "delivered", "cancelled", "returned"]
CANCELLABLE = ("pending", "processing")
CANCEL_REASONS = ["no_longer_needed", "ordered_by_mistake", "found_better_price"]
PAYMENT_KINDS = ["credit_card", "gift_card", "paypal"]
CATEGORIES = ["electronics", "home", "kitchen", "outdoor", "books", "toys", "apparel"]
RETURN_WINDOW_DAYS = 30

CUSTOMER_ID = text("Customer id, as returned by find_customers", pattern="^C[0-9]{4}$")
ORDER_ID = text("Order id, as returned by list_orders", pattern="^O[0-9]{5}$")
PRODUCT_ID = text("Product id, as returned by search_products", pattern="^P[0-9]{4}$")
PAYMENT_METHOD_ID = text("Payment method id, as returned by get_customer", pattern="^pm_[0-9a-f]{6}$")

ADDRESS = obj({"street": text("Street and number"), "city": text("City"), "zip": text("ZIP code", pattern="^[0-9]{5}$")})
CUSTOMER_SUMMARY = obj(
    {"customer_id": CUSTOMER_ID, "name": text("Full name"), "email": text("Email address", format="email"), "city": text("City")}
)
PAYMENT_METHOD = obj(
    {
        "payment_method_id": PAYMENT_METHOD_ID,
        "kind": choice(PAYMENT_KINDS, "Kind of payment method"),
        "label": text("How the customer recognises it, e.g. 'Visa ending 4242'"),
    }
)
ORDER_SUMMARY = obj(
    {
        "order_id": ORDER_ID,
        "placed_on": day("Day the order was placed"),
        "status": choice(ORDER_STATUSES, "Order status"),
        "total": money("Order total in USD"),
        "item_count": integer("Number of units in the order", minimum=1),
    }
)
ORDER_ITEM = obj(
    {
        "product_id": PRODUCT_ID,
        "name": text("Product name"),
        "quantity": integer("Units ordered", minimum=1),
        "unit_price": money("Price per unit in USD"),
    }
)
ORDER_DETAIL = obj(
    {
        "order_id": ORDER_ID,
        "customer_id": CUSTOMER_ID,
        "placed_on": day("Day the order was placed"),
        "status": choice(ORDER_STATUSES, "Order status"),
        "items": array(ORDER_ITEM, "Ordered products", minItems=1),
        "total": money("Order total in USD"),
        "payment_method_id": PAYMENT_METHOD_ID,
        "shipping_address": ADDRESS,
    },
    {"cancel_reason": choice(CANCEL_REASONS, "Why the order was cancelled")},
)
PRODUCT = obj(
    {
        "product_id": PRODUCT_ID,
        "name": text("Product name"),
        "category": choice(CATEGORIES, "Product category"),
        "price": money("Unit price in USD"),
        "in_stock": integer("Units available", minimum=0),
    }
)
RETURN = obj(
    {
        "return_id": text("Return id", pattern="^R[0-9]{4}$"),
        "order_id": ORDER_ID,
        "product_ids": array(PRODUCT_ID, "Returned products", minItems=1),
        "refund_amount": money("Refund in USD"),
        "payment_method_id": PAYMENT_METHOD_ID,
        "status": choice(["requested", "refunded"], "Return status"),
        "requested_on": day("Day the return was requested"),
    }
)

toolbox = ToolBox()


def _customer_summary(customer: dict[str, Any]) -> dict[str, Any]:
    return {key: customer[key] for key in ("customer_id", "name", "email")} | {"city": customer["address"]["city"]}


def _order_summary(order: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": order["order_id"],
        "placed_on": order["placed_on"],
        "status": order["status"],
        "total": order["total"],
        "item_count": sum(item["quantity"] for item in order["items"]),
    }


def _payment_method(customer: dict[str, Any], payment_method_id: str) -> dict[str, Any]:
    for method in customer["payment_methods"]:
        if method["payment_method_id"] == payment_method_id:
            return method
    raise ToolError(f"payment method {payment_method_id} does not belong to customer {customer['customer_id']}")


def _gift_card_id(customer: dict[str, Any]) -> str | None:
    return next((m["payment_method_id"] for m in customer["payment_methods"] if m["kind"] == "gift_card"), None)


def _refund(state: State, customer: dict[str, Any], payment_method_id: str, amount: float) -> None:
    """Money goes back where it came from; only a gift card has a balance the store keeps."""
    if _payment_method(customer, payment_method_id)["kind"] == "gift_card":
        balance = round(customer["gift_card_balance"] + amount, 2)
        state.update("customers", customer["customer_id"], gift_card_balance=balance)


@toolbox.tool(
    "Find customers by (part of) their full name or by exact email address.",
    obj({}, {"name": text("Full name or part of it"), "email": text("Email address", format="email")},
        anyOf=[{"required": ["name"]}, {"required": ["email"]}]),
    obj({"customers": array(CUSTOMER_SUMMARY, "Matching customers")}),
)
def find_customers(state: State, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name", "").lower()
    email = args.get("email", "").lower()
    found = [
        _customer_summary(c)
        for c in state.rows("customers")
        if (not name or name in c["name"].lower()) and (not email or email == c["email"].lower())
    ]
    return {"customers": found[:20]}


@toolbox.tool(
    "Customer profile: address, gift-card balance and saved payment methods.",
    obj({"customer_id": CUSTOMER_ID}),
    obj(
        {
            "customer_id": CUSTOMER_ID,
            "name": text("Full name"),
            "email": text("Email address", format="email"),
            "address": ADDRESS,
            "gift_card_balance": money("Gift-card balance in USD"),
            "payment_methods": array(PAYMENT_METHOD, "Saved payment methods"),
        }
    ),
)
def get_customer(state: State, args: dict[str, Any]) -> dict[str, Any]:
    customer = state.require("customers", args["customer_id"], "customer")
    return {key: customer[key] for key in ("customer_id", "name", "email", "address", "gift_card_balance", "payment_methods")}


@toolbox.tool(
    "A customer's orders, newest first, optionally only those with one status.",
    obj({"customer_id": CUSTOMER_ID}, {"status": choice(ORDER_STATUSES, "Only orders with this status")}),
    obj({"orders": array(ORDER_SUMMARY, "Orders, newest first")}),
)
def list_orders(state: State, args: dict[str, Any]) -> dict[str, Any]:
    state.require("customers", args["customer_id"], "customer")
    orders = [
        _order_summary(o)
        for o in state.rows("orders")
        if o["customer_id"] == args["customer_id"] and args.get("status") in (None, o["status"])
    ]
    return {"orders": sorted(orders, key=lambda o: (o["placed_on"], o["order_id"]), reverse=True)}


@toolbox.tool(
    "Full details of one order: items, payment method, shipping address.",
    obj({"order_id": ORDER_ID}),
    ORDER_DETAIL,
)
def get_order(state: State, args: dict[str, Any]) -> dict[str, Any]:
    return dict(state.require("orders", args["order_id"], "order"))


@toolbox.tool(
    "Search the catalog by words in the product name and/or by category.",
    obj(
        {},
        {
            "query": text("Words of the product name"),
            "category": choice(CATEGORIES, "Product category"),
            "max_price": money("Highest unit price in USD"),
        },
        anyOf=[{"required": ["query"]}, {"required": ["category"]}],
    ),
    obj({"products": array(PRODUCT, "Matching products, by name")}),
)
def search_products(state: State, args: dict[str, Any]) -> dict[str, Any]:
    words = args.get("query", "").lower().split()
    found = [
        p
        for p in state.rows("products")
        if all(word in p["name"].lower() for word in words)
        and args.get("category") in (None, p["category"])
        and p["price"] <= args.get("max_price", float("inf"))
    ]
    return {"products": [dict(p) for p in sorted(found, key=lambda p: p["name"])[:25]]}


@toolbox.tool("One product with its price and stock.", obj({"product_id": PRODUCT_ID}), PRODUCT)
def get_product(state: State, args: dict[str, Any]) -> dict[str, Any]:
    return dict(state.require("products", args["product_id"], "product"))


@toolbox.tool(
    "Place an order for a customer, shipped to their address and paid with one of their payment methods."
    " A gift card must cover the whole total.",
    obj(
        {
            "customer_id": CUSTOMER_ID,
            "items": array(
                obj({"product_id": PRODUCT_ID, "quantity": integer("Units to order", minimum=1, maximum=10)}),
                "Products and quantities",
                minItems=1,
            ),
            "payment_method_id": PAYMENT_METHOD_ID,
        }
    ),
    obj(
        {
            "order_id": ORDER_ID,
            "status": choice(ORDER_STATUSES, "Order status"),
            "placed_on": day("Day the order was placed"),
            "total": money("Order total in USD"),
            "payment_method_id": PAYMENT_METHOD_ID,
        }
    ),
    writes=True,
    report="placed order {order_id} for ${total:.2f}",
)
def place_order(state: State, args: dict[str, Any]) -> dict[str, Any]:
    customer = state.require("customers", args["customer_id"], "customer")
    method = _payment_method(customer, args["payment_method_id"])
    items, total = [], 0.0
    for line in args["items"]:
        product = state.require("products", line["product_id"], "product")
        if product["in_stock"] < line["quantity"]:
            left = product["in_stock"]
            raise ToolError(f"{product['name']} is out of stock" if left == 0 else f"only {left} units of {product['name']} left")
        items.append({"product_id": product["product_id"], "name": product["name"], "quantity": line["quantity"], "unit_price": product["price"]})
        total += product["price"] * line["quantity"]
    total = round(total, 2)
    if method["kind"] == "gift_card":
        if customer["gift_card_balance"] < total:
            raise ToolError(
                f"insufficient gift card balance: ${customer['gift_card_balance']:.2f} available, ${total:.2f} needed"
            )
        state.update("customers", customer["customer_id"], gift_card_balance=round(customer["gift_card_balance"] - total, 2))
    for line in args["items"]:
        product = state.get("products", line["product_id"])
        state.update("products", product["product_id"], in_stock=product["in_stock"] - line["quantity"])
    order_id = state.next_id("orders", "O", 5)
    order = {
        "order_id": order_id,
        "customer_id": customer["customer_id"],
        "placed_on": state.context["today"],
        "status": "pending",
        "items": items,
        "total": total,
        "payment_method_id": method["payment_method_id"],
        "shipping_address": customer["address"],
    }
    state.put("orders", order_id, order)
    return {key: order[key] for key in ("order_id", "status", "placed_on", "total", "payment_method_id")}


@toolbox.tool(
    "Cancel an order that has not shipped yet (status pending or processing); the total is refunded"
    " to the payment method used and the items go back to stock.",
    obj({"order_id": ORDER_ID, "reason": choice(CANCEL_REASONS, "Why the customer cancels")}),
    obj(
        {
            "order_id": ORDER_ID,
            "status": choice(ORDER_STATUSES, "New order status"),
            "refund_amount": money("Refund in USD"),
            "payment_method_id": PAYMENT_METHOD_ID,
        }
    ),
    writes=True,
    report="cancelled order {order_id}; ${refund_amount:.2f} is refunded to the original payment method",
)
def cancel_order(state: State, args: dict[str, Any]) -> dict[str, Any]:
    order = state.require("orders", args["order_id"], "order")
    if order["status"] not in CANCELLABLE:
        raise ToolError(f"order {order['order_id']} is {order['status']}; only pending or processing orders can be cancelled")
    customer = state.get("customers", order["customer_id"])
    _refund(state, customer, order["payment_method_id"], order["total"])
    for item in order["items"]:
        product = state.get("products", item["product_id"])
        state.update("products", product["product_id"], in_stock=product["in_stock"] + item["quantity"])
    state.update("orders", order["order_id"], status="cancelled", cancel_reason=args["reason"])
    return {"order_id": order["order_id"], "status": "cancelled", "refund_amount": order["total"], "payment_method_id": order["payment_method_id"]}


@toolbox.tool(
    f"Return products of a delivered order within {RETURN_WINDOW_DAYS} days of purchase. The refund goes to"
    " the payment method given, which must be the one the order was paid with or the customer's gift card.",
    obj(
        {
            "order_id": ORDER_ID,
            "product_ids": array(PRODUCT_ID, "Products of the order to return", minItems=1, uniqueItems=True),
            "payment_method_id": PAYMENT_METHOD_ID,
        }
    ),
    RETURN,
    writes=True,
    report="opened return {return_id} on order {order_id}; ${refund_amount:.2f} will be refunded",
)
def return_items(state: State, args: dict[str, Any]) -> dict[str, Any]:
    order = state.require("orders", args["order_id"], "order")
    if order["status"] != "delivered":
        raise ToolError(f"order {order['order_id']} is {order['status']}; only delivered orders can be returned")
    deadline = date.fromisoformat(order["placed_on"]) + timedelta(days=RETURN_WINDOW_DAYS)
    if date.fromisoformat(state.context["today"]) > deadline:
        raise ToolError(f"the return window of order {order['order_id']} closed on {deadline.isoformat()}")
    customer = state.get("customers", order["customer_id"])
    refund_to = args["payment_method_id"]
    if refund_to not in (order["payment_method_id"], _gift_card_id(customer)):
        raise ToolError("refunds go to the original payment method or to the customer's gift card")
    already = {p for r in state.rows("returns") if r["order_id"] == order["order_id"] for p in r["product_ids"]}
    lines = {item["product_id"]: item for item in order["items"]}
    for product_id in args["product_ids"]:
        if product_id not in lines:
            raise ToolError(f"product {product_id} is not part of order {order['order_id']}")
        if product_id in already:
            raise ToolError(f"product {product_id} of order {order['order_id']} was already returned")
    amount = round(sum(lines[p]["unit_price"] * lines[p]["quantity"] for p in args["product_ids"]), 2)
    _refund(state, customer, refund_to, amount)
    if already | set(args["product_ids"]) == set(lines):
        state.update("orders", order["order_id"], status="returned")
    return_id = state.next_id("returns", "R", 4)
    entry = {
        "return_id": return_id,
        "order_id": order["order_id"],
        "customer_id": customer["customer_id"],
        "product_ids": list(args["product_ids"]),
        "refund_amount": amount,
        "payment_method_id": refund_to,
        "status": "requested",
        "requested_on": state.context["today"],
    }
    state.put("returns", return_id, entry)
    return {key: value for key, value in entry.items() if key != "customer_id"}


@toolbox.tool(
    "A customer's returns, newest first.",
    obj({"customer_id": CUSTOMER_ID}),
    obj({"returns": array(RETURN, "Returns, newest first")}),
)
def list_returns(state: State, args: dict[str, Any]) -> dict[str, Any]:
    state.require("customers", args["customer_id"], "customer")
    found = [r for r in state.rows("returns") if r["customer_id"] == args["customer_id"]]
    found.sort(key=lambda r: (r["requested_on"], r["return_id"]), reverse=True)
    return {"returns": [{key: value for key, value in r.items() if key != "customer_id"} for r in found]}


@toolbox.tool(
    "Change where an order that has not shipped yet (pending or processing) will be delivered.",
    obj({"order_id": ORDER_ID, "street": text("Street and number"), "city": text("City"), "zip": text("ZIP code", pattern="^[0-9]{5}$")}),
    obj({"order_id": ORDER_ID, "shipping_address": ADDRESS}),
    writes=True,
    report="changed the delivery address of order {order_id} to {street}, {city} {zip}",
)
def update_shipping_address(state: State, args: dict[str, Any]) -> dict[str, Any]:
    order = state.require("orders", args["order_id"], "order")
    if order["status"] not in CANCELLABLE:
        raise ToolError(f"order {order['order_id']} is {order['status']}; the address can only change before it ships")
    address = {"street": args["street"], "city": args["city"], "zip": args["zip"]}
    state.update("orders", order["order_id"], shipping_address=address)
    return {"order_id": order["order_id"], "shipping_address": address}


TOOLS = toolbox.tools

# Seed generation: run once by ``environments.build``; the JSON it writes is what ships.

_CATALOG = {
    "electronics": [("Wireless Mouse", 25), ("USB-C Hub", 40), ("Noise-Cancelling Headphones", 180), ("Mechanical Keyboard", 95), ("Portable Charger", 35), ("Bluetooth Speaker", 60)],
    "home": [("Desk Lamp", 45), ("Throw Blanket", 38), ("Wall Clock", 29), ("Storage Basket", 22), ("Scented Candle", 18), ("Picture Frame", 15)],
    "kitchen": [("Chef Knife", 70), ("Cast Iron Skillet", 48), ("Coffee Grinder", 55), ("Cutting Board", 26), ("Water Bottle", 20), ("Tea Kettle", 42)],
    "outdoor": [("Camping Tent", 210), ("Trail Backpack", 120), ("Sleeping Bag", 90), ("Headlamp", 30), ("Hiking Poles", 65), ("Camp Stove", 75)],
    "books": [("Cookbook", 32), ("Field Guide", 24), ("Travel Atlas", 28), ("Sketchbook", 16), ("Journal", 14), ("Puzzle Book", 12)],
    "toys": [("Building Blocks", 35), ("Puzzle Set", 22), ("Remote Control Car", 58), ("Board Game", 40), ("Plush Bear", 19), ("Kite", 25)],
    "apparel": [("Rain Jacket", 110), ("Wool Socks", 18), ("Running Shoes", 130), ("Baseball Cap", 24), ("Fleece Pullover", 75), ("Leather Belt", 45)],
}
_VARIANTS = ["Black", "Blue", "Green"]


def _status_for(age_days: int, rng: random.Random) -> str:
    if rng.random() < 0.08:
        return "cancelled"
    if age_days <= 2:
        return "pending"
    if age_days <= 5:
        return "processing"
    if age_days <= 10:
        return "shipped"
    return "delivered"


def generate_seed(seed: int, today: str = "2026-03-16", customers: int = 160) -> dict[str, Any]:
    """A deterministic world: ~160 customers (a few sharing a name), 126 products, ~600 orders, returns."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    current = date.fromisoformat(today)
    products = []
    for category, bases in _CATALOG.items():
        for base, price in bases:
            for variant in _VARIANTS:
                products.append(
                    {
                        "product_id": f"P{2001 + len(products)}",
                        "name": f"{base} ({variant})",
                        "category": category,
                        "price": round(price * rng.uniform(0.85, 1.15), 2),
                        "in_stock": rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 35]),
                    }
                )
    people, hex_ids = [], set()

    def payment_id() -> str:
        while True:
            candidate = f"pm_{rng.randrange(16**6):06x}"
            if candidate not in hex_ids:
                hex_ids.add(candidate)
                return candidate

    for index in range(customers):
        name = rng.choice(people)["name"] if people and rng.random() < 0.05 else f"{fake.first_name()} {fake.last_name()}"
        first, last = (re.sub("[^a-z]", "", part.lower()) for part in name.split(" ", 1))
        methods = [{"payment_method_id": payment_id(), "kind": "credit_card", "label": f"{rng.choice(['Visa', 'Mastercard', 'Amex'])} ending {rng.randrange(10000):04d}"}]
        if rng.random() < 0.3:
            methods.append({"payment_method_id": payment_id(), "kind": "paypal", "label": f"PayPal {first}.{last}@example.com"})
        has_gift_card = rng.random() < 0.65
        if has_gift_card:
            methods.append({"payment_method_id": payment_id(), "kind": "gift_card", "label": "Gift card"})
        people.append(
            {
                "customer_id": f"C{1001 + index}",
                "name": name,
                "email": f"{first}.{last}{index}@example.com",
                "address": {"street": fake.street_address(), "city": fake.city(), "zip": fake.zipcode()},
                "gift_card_balance": round(rng.uniform(0, 220), 2) if has_gift_card else 0.0,
                "payment_methods": methods,
            }
        )
    orders, returns = [], []
    for customer in people:
        used_days: set[int] = set()
        for _ in range(rng.randint(1, 7)):
            age = rng.choice([rng.randint(0, 12), rng.randint(0, 120)])
            if age in used_days and rng.random() < 0.8:
                continue
            used_days.add(age)
            lines = rng.sample(products, rng.randint(1, 3))
            items = [{"product_id": p["product_id"], "name": p["name"], "quantity": rng.choice([1, 1, 1, 2]), "unit_price": p["price"]} for p in lines]
            status = _status_for(age, rng)
            order = {
                "order_id": f"O{30001 + len(orders)}",
                "customer_id": customer["customer_id"],
                "placed_on": (current - timedelta(days=age)).isoformat(),
                "status": status,
                "items": items,
                "total": round(sum(i["unit_price"] * i["quantity"] for i in items), 2),
                "payment_method_id": rng.choice(customer["payment_methods"])["payment_method_id"],
                "shipping_address": customer["address"],
            }
            if status == "cancelled":
                order["cancel_reason"] = rng.choice(CANCEL_REASONS)
            if status == "delivered" and rng.random() < 0.12:
                returned = [items[0]["product_id"]]
                returns.append(
                    {
                        "return_id": f"R{5001 + len(returns)}",
                        "order_id": order["order_id"],
                        "customer_id": customer["customer_id"],
                        "product_ids": returned,
                        "refund_amount": round(items[0]["unit_price"] * items[0]["quantity"], 2),
                        "payment_method_id": order["payment_method_id"],
                        "status": rng.choice(["requested", "refunded"]),
                        "requested_on": (current - timedelta(days=rng.randint(0, max(0, age - 1)))).isoformat(),
                    }
                )
                if len(items) == 1:
                    order["status"] = "returned"
            orders.append(order)
    return {
        "domain": "retail",
        "context": {"today": today},
        "keys": {"customers": "customer_id", "products": "product_id", "orders": "order_id", "returns": "return_id"},
        "tables": {"customers": people, "products": products, "orders": orders, "returns": returns},
    }
