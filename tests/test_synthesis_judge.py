"""The termination judge: each rule rejects a crafted conversation; a clean one passes them all."""

from __future__ import annotations

import random
from typing import Any

import pytest

from digit_assets.engine.synthesis.roles import JudgeRequest
from digit_assets.engine.offline.fields import is_placeholder
from digit_assets.engine.offline.judge import judge_offline, stated_values
from digit_assets.engine.synthesis.model import ExecutedCall

TODAY = "2025-06-01"
REQUEST = "Please cancel the order I placed on 2025-05-03 and send the refund confirmation to kim.lee@example.org."


def call(ref: str, tool: str, arguments: dict[str, Any], output: dict[str, Any], turn: int = 0) -> ExecutedCall:
    return ExecutedCall(ref=ref, tool=tool, arguments=arguments, output=output, turn=turn)


def clean_calls() -> list[ExecutedCall]:
    listing = {
        "orders": [
            {
                "order_id": "ORD-12087",
                "order_date": "2025-05-03",
                "status": "shipped",
                "items": [{"sku": "LMP-204", "unit_price": 24.5, "quantity": 2}, {"sku": "BLB-11", "unit_price": 3.25, "quantity": 4}],
                "shipping": 5.0,
                "total": 67.0,
            }
        ],
        "count": 1,
    }
    return [
        call("$1", "list_orders", {"date": "2025-05-03", "limit": 5}, listing),
        call(
            "$2",
            "cancel_order",
            {"order_id": "ORD-12087", "reason": "changed_mind", "notify": True},
            {"order_id": "ORD-12087", "status": "cancelled", "cancelled_at": "2025-06-01T09:30:00Z", "refund_amount": 67.0},
        ),
        call(
            "$3",
            "send_email",
            {"to": "kim.lee@example.org", "body": "Your order has been cancelled and 67 refunded."},
            {"message_id": "MSG-55120", "sent_at": "2025-06-01T09:31:00Z"},
        ),
    ]


def verdict(calls: list[ExecutedCall], requests: list[str] | None = None) -> tuple[bool, list[str]]:
    answer = judge_offline(JudgeRequest(today=TODAY, requests=requests or [REQUEST], calls=calls), random.Random(0))
    return answer.accept, answer.problems


def with_arguments(calls: list[ExecutedCall], index: int, **changes: Any) -> list[ExecutedCall]:
    changed = list(calls)
    changed[index] = changed[index].model_copy(update={"arguments": {**changed[index].arguments, **changes}})
    return changed


def with_output(calls: list[ExecutedCall], index: int, output: dict[str, Any]) -> list[ExecutedCall]:
    changed = list(calls)
    changed[index] = changed[index].model_copy(update={"output": output})
    return changed


def test_a_clean_conversation_is_accepted() -> None:
    assert verdict(clean_calls()) == (True, [])


# --- Placeholders --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["xxx", "ORD-XXXX", "<order_id>", "{order_id}", "{{name}}", "string", "TODO", "N/A", "test", "lorem ipsum dolor",
     "123456", "0000", "user@example.com", "test@example.org", "jane@domain.com", "John Doe", "[insert reason]", "your_email"],
)
def test_a_placeholder_argument_is_rejected_naming_the_call_and_value(value: str) -> None:
    accept, problems = verdict(with_arguments(clean_calls(), 2, to=value), [REQUEST + f" ({value})"])
    assert not accept
    assert any(p.startswith("$3 send_email: argument to=") and repr(value) in p and "placeholder" in p for p in problems), problems


@pytest.mark.parametrize("value", ["kim.lee@example.org", "marccoleman@example.com", "ORD-12087", "Jessica Garrett", "2025-05-03", "Testing Lab Ltd", 42, 12.5])
def test_real_values_are_not_placeholders(value: Any) -> None:
    assert not is_placeholder(value)


def test_a_placeholder_in_a_result_and_an_unresolved_reference_are_rejected() -> None:
    calls = with_output(clean_calls(), 2, {"message_id": "string", "sent_at": "2025-06-01T09:31:00Z"})
    accept, problems = verdict(calls)
    assert not accept and any("$3 send_email: result field message_id='string' is a placeholder" in p for p in problems)
    accept, problems = verdict(with_arguments(clean_calls(), 1, order_id="$1.orders[0].order_id"))
    assert not accept and any("$2 cancel_order: argument order_id='$1.orders[0].order_id' is an unresolved reference" in p for p in problems)


# --- Hallucinated arguments ----------------------------------------------------------------------


def test_an_argument_from_nowhere_is_rejected_as_hallucinated() -> None:
    accept, problems = verdict(with_arguments(clean_calls(), 1, order_id="ORD-99120"))
    assert not accept
    assert any(p.startswith("$2 cancel_order: argument order_id='ORD-99120'") and "hallucinated" in p for p in problems), problems


def test_a_value_from_a_later_turn_or_a_later_result_does_not_ground_an_earlier_call() -> None:
    calls = clean_calls()
    early = call("$0", "get_order", {"order_id": "ORD-12087"}, {"order_id": "ORD-12087"})
    accept, problems = verdict([early, *calls])
    assert not accept and any(p.startswith("$0 get_order: argument order_id='ORD-12087'") for p in problems)
    second_turn = [*calls, call("$4", "get_invoice", {"invoice_id": "INV-70001"}, {"invoice_id": "INV-70001"}, turn=1)]
    assert verdict(second_turn, [REQUEST, "And fetch invoice INV-70001 too."])[0]
    assert not verdict([call("$0", "get_invoice", {"invoice_id": "INV-70001"}, {}), *calls], [REQUEST, "And fetch invoice INV-70001 too."])[0]


def test_assistant_choices_are_exempt_and_relative_dates_are_grounded() -> None:
    calls = with_arguments(clean_calls(), 0, limit=10, sort="newest", include_archived=False)
    calls = with_arguments(calls, 2, body="Your order has been cancelled; the refund of 67 is on its way to you.")
    assert verdict(calls) == (True, [])
    tomorrow = with_arguments(clean_calls(), 0, date="2025-06-02")
    assert not verdict(tomorrow)[0]
    assert verdict(tomorrow, [REQUEST.replace("on 2025-05-03", "tomorrow")])[0]


# --- Temporal inconsistencies --------------------------------------------------------------------


def test_a_past_tense_result_dated_after_today_is_rejected() -> None:
    cancelled = {"order_id": "ORD-12087", "status": "cancelled", "cancelled_at": "2025-06-04T09:30:00Z", "refund_amount": 67.0}
    accept, problems = verdict(with_output(clean_calls(), 1, cancelled))
    assert not accept
    assert any("$2 cancel_order: result field cancelled_at=2025-06-04T09:30:00Z lies after today" in p for p in problems), problems


def test_ends_before_begins_are_rejected_in_arguments_and_results() -> None:
    stay = call("$4", "book_hotel", {"hotel_id": "HOT-1", "check_in": "2025-07-14", "check_out": "2025-07-10"}, {"booking_id": "BKG-1"})
    accept, problems = verdict([*clean_calls(), stay], [REQUEST + " Book HOT-1 from 2025-07-14 to 2025-07-10."])
    assert not accept and "$4 book_hotel: argument check_out=2025-07-10 is before check_in=2025-07-14" in problems
    trip = {"trip": {"departure_time": "2025-07-10T18:00:00Z", "arrival_time": "2025-07-10T09:00:00Z"}}
    accept, problems = verdict(with_output(clean_calls(), 2, trip))
    assert not accept and any("result arrival_time=2025-07-10T09:00:00Z is before departure_time" in p for p in problems)
    ordered = {"trip": {"departure_time": "2025-07-10T08:00:00Z", "arrival_time": "2025-07-10T09:00:00Z", "start_date": "2025-07-10", "end_date": "2025-07-10"}}
    assert verdict(with_output(clean_calls(), 2, ordered))[0]


def test_booking_a_date_before_today_is_rejected() -> None:
    booking = call("$4", "book_table", {"restaurant_id": "RST-88", "date": "2025-05-20"}, {"reservation_id": "RSV-1"})
    accept, problems = verdict([*clean_calls(), booking], [REQUEST + " Book RST-88 for 2025-05-20."])
    assert not accept and "$4 book_table: argument date=2025-05-20 schedules something before today (2025-06-01)" in problems


# --- Impossible results --------------------------------------------------------------------------


def test_negative_prices_and_quantities_are_rejected() -> None:
    calls = clean_calls()
    output = {**calls[1].output, "refund_amount": 67.0}
    listing = {**calls[0].output, "orders": [{**calls[0].output["orders"][0], "items": [{"sku": "LMP-204", "unit_price": -24.5, "quantity": 2}]}]}
    accept, problems = verdict(with_output(with_output(calls, 1, output), 0, listing))
    assert not accept and any("$1 list_orders: result field orders[0].items[0].unit_price=-24.5 cannot be negative" in p for p in problems)


def test_a_total_that_contradicts_its_items_is_rejected() -> None:
    calls = clean_calls()
    wrong = {**calls[0].output, "orders": [{**calls[0].output["orders"][0], "total": 80.0}]}
    accept, problems = verdict(with_output(calls, 0, wrong))
    assert not accept and any("$1 list_orders: result total=80 contradicts its items and adjustments (67)" in p for p in problems)
    discounted = {**calls[0].output, "orders": [{**calls[0].output["orders"][0], "discount": 7.0, "total": 60.0}]}
    assert verdict(with_output(calls, 0, discounted))[0]


def test_a_count_below_the_listed_items_is_rejected() -> None:
    calls = clean_calls()
    wrong = {**calls[0].output, "orders": calls[0].output["orders"] * 2, "count": 1}
    accept, problems = verdict(with_output(calls, 0, wrong))
    assert not accept and any("$1 list_orders: result count=1 is smaller than the 2 orders listed" in p for p in problems)


def test_acting_on_what_an_empty_lookup_did_not_find_is_rejected() -> None:
    calls = with_output(clean_calls(), 0, {"orders": [], "count": 0})
    accept, problems = verdict(calls, [REQUEST + " It is ORD-12087."])
    assert not accept
    assert any("$1 list_orders: found no orders, yet $2 cancel_order acted on order_id='ORD-12087'" in p for p in problems), problems


# --- Ignored constraints -------------------------------------------------------------------------


def test_a_stated_value_no_call_uses_is_rejected() -> None:
    request = REQUEST + " Use coupon SAVE-2025 and charge 12.50 at most."
    accept, problems = verdict(clean_calls(), [request])
    assert not accept
    assert "request 1 states 'SAVE-2025', but no call uses it (ignored constraint)" in problems
    assert "request 1 states '12.50', but no call uses it (ignored constraint)" in problems
    used = with_arguments(clean_calls(), 2, coupon="SAVE-2025", max_charge=12.5)
    assert verdict(used, [request])[0]


def test_stated_values_are_the_distinctive_ones() -> None:
    text = "On 2025-05-03 at 10am I ordered 2 lamps (ORD-12087, $24.50 each) for my 3-day trip; mail kim@example.org. Thanks!"
    assert stated_values(text) == ["2025-05-03", "ORD-12087", "24.50", "kim@example.org"]
