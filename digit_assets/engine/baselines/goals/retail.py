"""Retail goals: a customer cancels, returns, orders or redirects orders they describe by date and product."""

from __future__ import annotations

import random
from datetime import date, timedelta

from digit_assets.engine.baselines.environments.base import Entity, State
from digit_assets.engine.baselines.environments.retail import CANCEL_REASONS, CANCELLABLE, RETURN_WINDOW_DAYS
from digit_assets.engine.baselines.goals.core import Expectation, Goal, Literal, Persona, Task, say_date, unique_by

REASON_WORDS = {
    "no_longer_needed": ("I no longer need it", "I no longer need them"),
    "ordered_by_mistake": ("I ordered it by mistake", "I ordered them by mistake"),
    "found_better_price": ("I found a better price elsewhere", "I found better prices elsewhere"),
}


def persona(state: State, rng: random.Random) -> Persona:
    customer = rng.choice(list(state.rows("customers")))
    namesakes = sum(1 for c in state.rows("customers") if c["name"] == customer["name"])
    literals = [Literal(customer["name"], ("name",))]
    intro = f"Hi, I'm {customer['name']}."
    if namesakes > 1:
        literals.append(Literal(customer["email"], ("email",)))
        intro = f"Hi, I'm {customer['name']} ({customer['email']})."
    return Persona(intro=intro, literals=tuple(literals), entity_id=customer["customer_id"])


def _orders(state: State, customer_id: str) -> list[Entity]:
    return [o for o in state.rows("orders") if o["customer_id"] == customer_id]


def _knock_on(order: Entity) -> frozenset[tuple[str, str]]:
    """What an order change may also touch: the customer's balance and the stock of its products."""
    return frozenset({("customers", order["customer_id"])} | {("products", item["product_id"]) for item in order["items"]})


def cancel_order(state: State, who: Persona, rng: random.Random) -> Goal | None:
    dated = unique_by(_orders(state, who.entity_id), lambda o: o["placed_on"])
    open_orders = [o for o in dated if o["status"] in CANCELLABLE]
    if not open_orders:
        return None
    order = rng.choice(open_orders)
    reason = rng.choice(CANCEL_REASONS)
    when, why = say_date(order["placed_on"], rng), REASON_WORDS[reason][0]
    request = rng.choice(
        [
            f"Please cancel the order I placed on {when}; {why}.",
            f"I need to cancel my order from {when} because {why}.",
            f"Can you cancel the order I made on {when}? {why[0].upper()}{why[1:]}.",
        ]
    )
    oracle = Expectation(
        state,
        targets={("orders", order["order_id"]): lambda o: o["status"] == "cancelled" and o.get("cancel_reason") == reason},
        side_effects=_knock_on(order),
    )
    return Goal("cancel_order", Task(request, (Literal(order["placed_on"], ("placed_on",)),)), oracle)


def cancel_unshipped(state: State, who: Persona, rng: random.Random) -> Goal | None:
    orders = _orders(state, who.entity_id)
    open_orders = [o for o in orders if o["status"] in CANCELLABLE]
    if not 2 <= len(open_orders) <= 4:
        return None
    reason = rng.choice(CANCEL_REASONS)
    request = rng.choice(
        [
            f"Please cancel every order of mine that hasn't shipped yet; {REASON_WORDS[reason][1]}.",
            f"Cancel all my orders that are still pending or processing, {REASON_WORDS[reason][1]}.",
        ]
    )
    side_effects: frozenset[tuple[str, str]] = frozenset().union(*(_knock_on(o) for o in open_orders))
    oracle = Expectation(
        state,
        targets={("orders", o["order_id"]): lambda o: o["status"] == "cancelled" and o.get("cancel_reason") == reason for o in open_orders},
        side_effects=side_effects,
    )
    literals = tuple(Literal(status, ("status",)) for status in CANCELLABLE)
    return Goal("cancel_unshipped", Task(request, literals), oracle)


def return_item(state: State, who: Persona, rng: random.Random) -> Goal | None:
    today = date.fromisoformat(state.context["today"])
    returned = {(r["order_id"], p) for r in state.rows("returns") for p in r["product_ids"]}
    candidates = [
        (order, item)
        for order in unique_by(_orders(state, who.entity_id), lambda o: o["placed_on"])
        if order["status"] == "delivered" and date.fromisoformat(order["placed_on"]) + timedelta(days=RETURN_WINDOW_DAYS) >= today
        for item in unique_by(order["items"], lambda i: i["name"])
        if (order["order_id"], item["product_id"]) not in returned
    ]
    if not candidates:
        return None
    order, item = rng.choice(candidates)
    customer = state.get("customers", who.entity_id)
    gift_card = next((m for m in customer["payment_methods"] if m["kind"] == "gift_card"), None)
    when = say_date(order["placed_on"], rng)
    literals = [Literal(order["placed_on"], ("placed_on",)), Literal(item["name"], ())]
    if gift_card is not None and rng.random() < 0.5:
        refund_to, where = gift_card["payment_method_id"], "to my gift card"
        literals.append(Literal("gift_card", ("kind",)))
    else:
        refund_to, where = order["payment_method_id"], "to the payment method I used"
    request = rng.choice(
        [
            f"I'd like to return the {item['name']} from my order of {when}; please refund it {where}.",
            f"Please return the {item['name']} I got in the order from {when} and put the refund {where}.",
        ]
    )
    expected = {"order_id": order["order_id"], "product_ids": [item["product_id"]], "payment_method_id": refund_to}
    oracle = Expectation(
        state,
        creations={"returns": lambda r: all(r[key] == value for key, value in expected.items())},
        side_effects=frozenset({("customers", customer["customer_id"]), ("orders", order["order_id"])}),
    )
    return Goal("return_item", Task(request, tuple(literals)), oracle)


def place_order(state: State, who: Persona, rng: random.Random) -> Goal | None:
    customer = state.get("customers", who.entity_id)
    product = rng.choice([p for p in state.rows("products") if p["in_stock"] > 0])
    quantity = rng.randint(1, min(3, product["in_stock"]))
    total = round(product["price"] * quantity, 2)
    card = next(m for m in customer["payment_methods"] if m["kind"] == "credit_card")
    gift_card = next((m for m in customer["payment_methods"] if m["kind"] == "gift_card"), None)
    # The two ways to pay are alternatives, so neither names a slot: each only points at its own record.
    literals = [Literal(product["name"], ("query",)), Literal(quantity, ("quantity",)), Literal(card["label"], ())]
    if gift_card is not None:
        pays_with = gift_card if customer["gift_card_balance"] >= total else card
        how = f"use my gift card if the balance covers it, otherwise my {card['label']}"
        literals.append(Literal("gift_card", ()))
    else:
        pays_with, how = card, f"charge my {card['label']}"
    units = "unit" if quantity == 1 else "units"
    request = rng.choice(
        [
            f"Please place an order for {quantity} {units} of the {product['name']}; {how}.",
            f"I'd like to place an order: {quantity} {units} of {product['name']}. {how[0].upper()}{how[1:]}.",
        ]
    )
    wanted = [(product["product_id"], quantity)]
    oracle = Expectation(
        state,
        creations={
            "orders": lambda o: o["customer_id"] == customer["customer_id"]
            and [(i["product_id"], i["quantity"]) for i in o["items"]] == wanted
            and o["payment_method_id"] == pays_with["payment_method_id"]
        },
        side_effects=frozenset({("customers", customer["customer_id"]), ("products", product["product_id"])}),
    )
    return Goal("place_order", Task(request, tuple(literals)), oracle)


def update_address(state: State, who: Persona, rng: random.Random) -> Goal | None:
    dated = unique_by(_orders(state, who.entity_id), lambda o: o["placed_on"])
    open_orders = [o for o in dated if o["status"] in CANCELLABLE]
    if not open_orders:
        return None
    order = rng.choice(open_orders)
    address = rng.choice([c["address"] for c in state.rows("customers") if c["customer_id"] != who.entity_id])
    when = say_date(order["placed_on"], rng)
    where = f"{address['street']}, {address['city']} {address['zip']}"
    request = rng.choice(
        [f"Please update the shipping address of my order from {when} to {where}.", f"I'm moving: update the address on the order I placed {when} to {where}."]
    )
    literals = (Literal(order["placed_on"], ("placed_on",)), *(Literal(address[key], (key,)) for key in ("street", "city", "zip")))
    oracle = Expectation(state, targets={("orders", order["order_id"]): lambda o: o["shipping_address"] == address})
    return Goal("update_address", Task(request, literals), oracle)


SAMPLERS = {
    "cancel_order": cancel_order,
    "cancel_unshipped": cancel_unshipped,
    "return_item": return_item,
    "place_order": place_order,
    "update_address": update_address,
}
