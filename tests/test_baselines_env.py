"""The executable environments: shipped specs and seeds, schema-valid outputs, real refusals."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from digit_assets import settings
from digit_assets.engine.baselines.environments import DOMAINS, State, load_environment, seed_path
from digit_assets.engine.baselines.environments.base import Environment, spec_file_name
from digit_assets.engine.baselines.environments.build import seed_json, spec_json
from digit_assets.engine.baselines.environments.files import can_write_file
from digit_assets.engine.baselines.search import dataflow_graph
from digit_assets.engine.records import is_error_content


def _ok(env: Environment, state: State, name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], State]:
    result = env.call(state, name, arguments)
    assert result.error is None, f"{name}({arguments}) failed: {result.error}"
    assert env.output_problems(name, result.output) == [], f"{name} output does not match its outputSchema"
    return result.output, result.state


def _refused(env: Environment, state: State, name: str, arguments: dict[str, Any], fragment: str) -> None:
    before = json.dumps(state.snapshot(), sort_keys=True)
    result = env.call(state, name, arguments)
    assert result.error is not None and result.error.startswith("Error: "), f"{name}({arguments}) was accepted"
    assert fragment in result.error, result.error
    assert is_error_content(result.content)
    assert result.state is state and json.dumps(state.snapshot(), sort_keys=True) == before


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_shipped_spec_file_is_the_mcp_tools_list_of_the_implementation(domain: str) -> None:
    shipped = (settings.PROJECT_ROOT / "specs" / spec_file_name(domain)).read_text()
    assert shipped == spec_json(domain), "specs/ drifted from the code: run python -m digit_assets.engine.baselines.environments.build"
    tools = json.loads(shipped)["tools"]
    assert 8 <= len(tools) <= 14
    for tool in tools:
        assert set(tool) == {"name", "description", "inputSchema", "outputSchema"}
        Draft202012Validator.check_schema(tool["inputSchema"])
        Draft202012Validator.check_schema(tool["outputSchema"])
        assert tool["inputSchema"]["type"] == tool["outputSchema"]["type"] == "object"
    env = load_environment(domain)
    writes = [t for t in env.tools.values() if t.writes]
    assert writes and len(writes) < len(env.tools), "each domain has lookups and actions"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_seed_state_is_regenerated_identically_and_has_realistic_volume(domain: str) -> None:
    path = seed_path(domain)
    assert path.read_text() == seed_json(domain), "the seed script no longer reproduces the shipped seed"
    assert path.stat().st_size < 1_000_000
    state = load_environment(domain).initial_state()
    assert sum(len(rows) for rows in state.tables.values()) >= 400
    assert max(len(rows) for rows in state.tables.values()) >= 300


def test_ids_flow_from_lookups_into_actions_under_one_name() -> None:
    edges = {
        domain: {(a, b): data["fields"] for a, b, data in dataflow_graph(load_environment(domain).tools.values()).edges(data=True)}
        for domain in DOMAINS
    }
    assert "order_id" in edges["retail"][("list_orders", "cancel_order")]
    assert "customer_id" in edges["retail"][("find_customers", "list_orders")]
    assert "payment_method_id" in edges["retail"][("get_customer", "place_order")]
    assert "file_id" in edges["files"][("search_files", "trash_file")]
    assert "file_id" in edges["files"][("list_trash", "restore_file")]
    assert "flight_id" in edges["travel"][("search_flights", "book_flight")]
    assert "booking_id" in edges["travel"][("list_bookings", "change_flight")]


def test_invalid_arguments_are_refused_by_the_input_schema() -> None:
    env = load_environment("retail")
    state = env.initial_state()
    _refused(env, state, "cancel_order", {"order_id": "O30001"}, "'reason' is a required property")
    _refused(env, state, "cancel_order", {"order_id": "O30001", "reason": "bored"}, "is not one of")
    _refused(env, state, "get_order", {"order_id": "30001"}, "does not match")
    _refused(env, state, "find_customers", {}, "arguments")
    _refused(env, state, "no_such_tool", {}, "unknown tool")


def test_retail_tools_answer_within_their_schemas_and_refuse_what_a_shop_refuses() -> None:
    env = load_environment("retail")
    state = env.initial_state()
    today = date.fromisoformat(state.context["today"])
    customer = next(
        c
        for c in state.rows("customers")
        if any(m["kind"] == "gift_card" for m in c["payment_methods"]) and 20 < c["gift_card_balance"] < 150
    )
    gift_card = next(m["payment_method_id"] for m in customer["payment_methods"] if m["kind"] == "gift_card")
    card = next(m["payment_method_id"] for m in customer["payment_methods"] if m["kind"] == "credit_card")
    found, _ = _ok(env, state, "find_customers", {"name": customer["name"]})
    assert customer["customer_id"] in {c["customer_id"] for c in found["customers"]}
    _ok(env, state, "find_customers", {"email": customer["email"]})
    profile, _ = _ok(env, state, "get_customer", {"customer_id": customer["customer_id"]})
    assert profile["gift_card_balance"] == customer["gift_card_balance"]
    orders, _ = _ok(env, state, "list_orders", {"customer_id": customer["customer_id"]})
    for summary in orders["orders"]:
        _ok(env, state, "get_order", {"order_id": summary["order_id"]})
    _ok(env, state, "list_returns", {"customer_id": customer["customer_id"]})
    cheap = min((p for p in state.rows("products") if p["in_stock"] > 0), key=lambda p: p["price"])
    pricey = next(p for p in state.rows("products") if p["in_stock"] > 0 and p["price"] > customer["gift_card_balance"])
    empty = next(p for p in state.rows("products") if p["in_stock"] == 0)
    _ok(env, state, "search_products", {"query": cheap["name"]})
    _ok(env, state, "search_products", {"category": "kitchen", "max_price": 30})
    _ok(env, state, "get_product", {"product_id": cheap["product_id"]})

    line = [{"product_id": pricey["product_id"], "quantity": 1}]
    _refused(env, state, "place_order", {"customer_id": customer["customer_id"], "items": line, "payment_method_id": gift_card}, "insufficient gift card balance")
    _refused(env, state, "place_order", {"customer_id": customer["customer_id"], "items": [{"product_id": empty["product_id"], "quantity": 1}], "payment_method_id": card}, "out of stock")
    stranger = next(c for c in state.rows("customers") if c["customer_id"] != customer["customer_id"])
    _refused(env, state, "place_order", {"customer_id": customer["customer_id"], "items": line, "payment_method_id": stranger["payment_methods"][0]["payment_method_id"]}, "does not belong")
    placed, after = _ok(env, state, "place_order", {"customer_id": customer["customer_id"], "items": [{"product_id": cheap["product_id"], "quantity": 1}], "payment_method_id": gift_card})
    assert after.get("customers", customer["customer_id"])["gift_card_balance"] == round(customer["gift_card_balance"] - cheap["price"], 2)
    assert after.get("products", cheap["product_id"])["in_stock"] == cheap["in_stock"] - 1
    assert state.get("orders", placed["order_id"]) is None, "the write ran on a fork"
    _ok(env, after, "update_shipping_address", {"order_id": placed["order_id"], "street": "1 Main St", "city": "Springfield", "zip": "12345"})
    cancelled, after_cancel = _ok(env, after, "cancel_order", {"order_id": placed["order_id"], "reason": "ordered_by_mistake"})
    assert cancelled["status"] == "cancelled"
    assert after_cancel.get("customers", customer["customer_id"])["gift_card_balance"] == customer["gift_card_balance"]
    _refused(env, after_cancel, "cancel_order", {"order_id": placed["order_id"], "reason": "ordered_by_mistake"}, "is cancelled")
    _refused(env, state, "cancel_order", {"order_id": "O99999", "reason": "no_longer_needed"}, "order O99999 not found")

    delivered = [o for o in state.rows("orders") if o["status"] == "delivered"]
    recent = next(o for o in delivered if date.fromisoformat(o["placed_on"]) >= today - timedelta(days=20) and not any(r["order_id"] == o["order_id"] for r in state.rows("returns")))
    old = next(o for o in delivered if date.fromisoformat(o["placed_on"]) < today - timedelta(days=40))
    _refused(env, state, "cancel_order", {"order_id": recent["order_id"], "reason": "no_longer_needed"}, "only pending or processing")
    _refused(env, state, "update_shipping_address", {"order_id": recent["order_id"], "street": "1 Main St", "city": "X", "zip": "12345"}, "before it ships")
    item = recent["items"][0]["product_id"]
    _refused(env, state, "return_items", {"order_id": old["order_id"], "product_ids": [old["items"][0]["product_id"]], "payment_method_id": old["payment_method_id"]}, "return window")
    returned, after_return = _ok(env, state, "return_items", {"order_id": recent["order_id"], "product_ids": [item], "payment_method_id": recent["payment_method_id"]})
    assert returned["refund_amount"] > 0
    _refused(env, after_return, "return_items", {"order_id": recent["order_id"], "product_ids": [item], "payment_method_id": recent["payment_method_id"]}, "already returned")


def test_files_tools_enforce_permissions_names_and_the_trash() -> None:
    env = load_environment("files")
    world = env.initial_state()
    user = world.context["user"]
    state = world.with_context(user=user)
    live = [f for f in state.rows("files") if not f["in_trash"]]
    mine = next(f for f in live if f["owner"] == user)
    foreign = next(f for f in live if not can_write_file(user, f))
    listing, _ = _ok(env, state, "list_directory", {"directory": mine["directory"]})
    assert mine["file_id"] in {f["file_id"] for f in listing["files"]}
    _ok(env, state, "list_directory", {"directory": "/projects"})
    _ok(env, state, "search_files", {"directory": "/", "tag": mine["tags"][0] if mine["tags"] else "draft", "min_size_bytes": 1})
    _ok(env, state, "get_file_info", {"file_id": foreign["file_id"]})
    _refused(env, state, "list_directory", {"directory": "/nowhere"}, "directory /nowhere not found")

    _refused(env, state, "trash_file", {"file_id": foreign["file_id"]}, "permission denied")
    _refused(env, state, "share_file", {"file_id": foreign["file_id"], "user": user, "access": "read"}, "only the owner")
    _refused(env, state, "restore_file", {"file_id": mine["file_id"]}, "is not in the trash")
    _refused(env, state, "move_file", {"file_id": mine["file_id"], "destination": mine["directory"]}, "already in")
    other = next(u["user"] for u in state.rows("users") if u["user"] != user)
    _refused(env, state, "move_file", {"file_id": mine["file_id"], "destination": f"/home/{other}"}, f"cannot write to /home/{other}")
    neighbour = next((f for f in live if f["directory"] == mine["directory"] and f["file_id"] != mine["file_id"]), None)
    if neighbour is not None:
        _refused(env, state, "rename_file", {"file_id": mine["file_id"], "new_name": neighbour["name"]}, "already exists")

    folder, state = _ok(env, state, "create_directory", {"parent_directory": f"/home/{user}", "name": "sorted"})
    moved, state = _ok(env, state, "move_file", {"file_id": mine["file_id"], "destination": folder["directory"]})
    assert moved["directory"] == f"/home/{user}/sorted"
    _, state = _ok(env, state, "rename_file", {"file_id": mine["file_id"], "new_name": "renamed.txt"})
    _, state = _ok(env, state, "add_tag", {"file_id": mine["file_id"], "tag": "cleanup"})
    _refused(env, state, "add_tag", {"file_id": mine["file_id"], "tag": "cleanup"}, "already tagged")
    _, state = _ok(env, state, "remove_tag", {"file_id": mine["file_id"], "tag": "cleanup"})
    _, state = _ok(env, state, "share_file", {"file_id": mine["file_id"], "user": other, "access": "write"})
    trashed, state = _ok(env, state, "trash_file", {"file_id": mine["file_id"]})
    assert trashed["in_trash"]
    _refused(env, state, "add_tag", {"file_id": mine["file_id"], "tag": "x"}, "is in the trash")
    trash, _ = _ok(env, state, "list_trash", {})
    assert mine["file_id"] in {f["file_id"] for f in trash["files"]}
    restored, _ = _ok(env, state, "restore_file", {"file_id": mine["file_id"]})
    assert restored["directory"] == f"/home/{user}/sorted" and not restored["in_trash"]
    assert world.get("files", mine["file_id"]) is mine, "the seed world was never touched"


def test_travel_tools_charge_points_and_refuse_sold_out_basic_and_wrong_routes() -> None:
    env = load_environment("travel")
    state = env.initial_state()
    today = state.context["today"]
    poor = next(t for t in state.rows("travellers") if t["loyalty_points"] == 0)
    rich = max(state.rows("travellers"), key=lambda t: t["loyalty_points"])
    flight = next(f for f in state.rows("flights") if f["date"] > today and f["seats_left"]["economy"] > 1 and f["seats_left"]["basic"] > 0)
    sold_out = next(f for f in state.rows("flights") if f["date"] > today and f["seats_left"]["business"] == 0)
    departed = next(f for f in state.rows("flights") if f["date"] < today and f["seats_left"]["economy"] > 0)
    _ok(env, state, "find_travellers", {"name": rich["name"]})
    _ok(env, state, "get_traveller", {"traveller_id": rich["traveller_id"]})
    found, _ = _ok(env, state, "search_flights", {"origin": flight["origin"], "destination": flight["destination"], "date": flight["date"]})
    assert flight["flight_id"] in {f["flight_id"] for f in found["flights"]}
    _ok(env, state, "get_flight", {"flight_id": flight["flight_id"]})
    _refused(env, state, "search_flights", {"origin": "BOS", "destination": "BOS", "date": today}, "must differ")
    _refused(env, state, "book_flight", {"flight_id": sold_out["flight_id"], "traveller_id": rich["traveller_id"], "cabin": "business", "payment": "card"}, "sold out")
    _refused(env, state, "book_flight", {"flight_id": departed["flight_id"], "traveller_id": rich["traveller_id"], "cabin": "economy", "payment": "card"}, "already departed")
    _refused(env, state, "book_flight", {"flight_id": flight["flight_id"], "traveller_id": poor["traveller_id"], "cabin": "economy", "payment": "points"}, "not enough loyalty points")

    booked, after = _ok(env, state, "book_flight", {"flight_id": flight["flight_id"], "traveller_id": rich["traveller_id"], "cabin": "economy", "payment": "points"})
    assert booked["points_used"] > 0
    assert after.get("travellers", rich["traveller_id"])["loyalty_points"] == rich["loyalty_points"] - booked["points_used"]
    _refused(env, after, "book_flight", {"flight_id": flight["flight_id"], "traveller_id": rich["traveller_id"], "cabin": "economy", "payment": "card"}, "already booked")
    basic, after_basic = _ok(env, after, "book_flight", {"flight_id": flight["flight_id"], "traveller_id": poor["traveller_id"], "cabin": "basic", "payment": "card"})
    _refused(env, after_basic, "cancel_booking", {"booking_id": basic["booking_id"]}, "cannot be refunded")
    _refused(env, after_basic, "change_flight", {"booking_id": basic["booking_id"], "flight_id": flight["flight_id"]}, "cannot be changed")
    other_route = next(f for f in state.rows("flights") if (f["origin"], f["destination"]) != (flight["origin"], flight["destination"]) and f["date"] > today)
    _refused(env, after, "change_flight", {"booking_id": booked["booking_id"], "flight_id": other_route["flight_id"]}, "not " + flight["origin"])
    later = next(
        (f for f in state.rows("flights") if (f["origin"], f["destination"]) == (flight["origin"], flight["destination"]) and f["date"] > flight["date"] and f["seats_left"]["economy"] > 0),
        None,
    )
    if later is not None:
        changed, _ = _ok(env, after, "change_flight", {"booking_id": booked["booking_id"], "flight_id": later["flight_id"]})
        assert changed["flight_id"] == later["flight_id"]
    listed, _ = _ok(env, after, "list_bookings", {"traveller_id": rich["traveller_id"], "status": "confirmed"})
    assert booked["booking_id"] in {b["booking_id"] for b in listed["bookings"]}
    _ok(env, after, "get_booking", {"booking_id": booked["booking_id"]})
    cancelled, after_cancel = _ok(env, after, "cancel_booking", {"booking_id": booked["booking_id"]})
    assert cancelled["status"] == "cancelled"
    assert after_cancel.get("travellers", rich["traveller_id"])["loyalty_points"] == rich["loyalty_points"]
    _refused(env, after_cancel, "cancel_booking", {"booking_id": booked["booking_id"]}, "already cancelled")

    hotel = next(h for h in state.rows("hotels") if h["rooms_left"] > 0)
    full = next(h for h in state.rows("hotels") if h["rooms_left"] == 0)
    stay = {"check_in": (date.fromisoformat(today) + timedelta(days=3)).isoformat(), "check_out": (date.fromisoformat(today) + timedelta(days=5)).isoformat()}
    hotels, _ = _ok(env, state, "search_hotels", {"city": hotel["city"], **stay})
    assert hotel["hotel_id"] in {h["hotel_id"] for h in hotels["hotels"]}
    _refused(env, state, "book_hotel", {"hotel_id": full["hotel_id"], "traveller_id": rich["traveller_id"], **stay, "payment": "card"}, "no rooms left")
    _refused(env, state, "book_hotel", {"hotel_id": hotel["hotel_id"], "traveller_id": rich["traveller_id"], "check_in": stay["check_out"], "check_out": stay["check_in"], "payment": "card"}, "1 to 14 nights")
    stayed, _ = _ok(env, state, "book_hotel", {"hotel_id": hotel["hotel_id"], "traveller_id": rich["traveller_id"], **stay, "payment": "card"})
    assert stayed["amount"] == round(hotel["nightly_rate"] * 2, 2)


def test_state_forks_share_entities_until_a_write_and_report_what_changed() -> None:
    state = load_environment("retail").initial_state()
    fork = state.fork()
    order_id = next(iter(state.tables["orders"]))
    fork.update("orders", order_id, status="cancelled")
    assert state.get("orders", order_id)["status"] != "cancelled"
    assert fork.tables["customers"] is state.tables["customers"], "untouched tables are shared, not copied"
    assert state.changed_keys(fork) == [("orders", order_id)]
    assert fork.next_id("orders", "O", 5) == f"O{30001 + len(state.tables['orders']):05d}"
