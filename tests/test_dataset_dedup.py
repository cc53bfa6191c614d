"""Near-duplicate removal: copies and light rewrites of a conversation are found, distinct ones are kept,
and the threshold decides."""

from __future__ import annotations

import json

import pytest

from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.synthesis.dedup import DedupSettings, find_near_duplicates
from digit_assets.engine.synthesis.funnel import funnel_rows


def _conversation(conversation_id: str, requests: list[str], calls: list[str], variant: str = "digit_tc") -> ConversationRecord:
    messages = []
    for number, (request, tool) in enumerate(zip(requests, calls), start=1):
        messages += [
            {"role": "user", "content": request},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{number}", "type": "function", "function": {"name": tool, "arguments": json.dumps({"id": number})}}
            ]},
            {"role": "tool", "tool_call_id": f"call_{number}", "name": tool, "content": "{}"},
            {"role": "assistant", "content": "Done."},
        ]
    tools = [{"type": "function", "function": {"name": name, "description": "", "parameters": {"type": "object"}}} for name in calls]
    return ConversationRecord(conversation_id=conversation_id, source="digit_tc", variant=variant, domain="retail", messages=messages, tools=tools)


ORDER = [
    "Hi, this is Dana Reyes from Lisbon. I ordered a walnut desk lamp last Tuesday and it still has not shipped; "
    "could you check where the order stands and move the delivery to my office at 12 Rua Augusta?",
    "Thanks. Please also cancel the matching lamp shade from the same order, I no longer need it.",
]
CALLS = ["list_orders", "get_order", "update_delivery_address", "cancel_order_item"]


def test_a_copy_and_a_light_rewrite_are_duplicates_of_the_first_kept_conversation():
    rewrite = [ORDER[0].replace("last Tuesday", "last Wednesday"), ORDER[1]]
    distinct = [
        "Good morning, I need to return the hiking boots I bought in March because they are a size too small.",
        "Can you also tell me when the refund will reach my card?",
    ]
    records = [
        _conversation("digit_tc-2026-000001", ORDER, CALLS),
        _conversation("digit_tc-2026-000002", ORDER, CALLS),
        _conversation("digit_tc-2026-000003", rewrite, CALLS),
        _conversation("digit_tc-2026-000004", distinct, ["list_orders", "create_return", "get_refund_status"]),
        _conversation("no_impl-2026-000001", ORDER, CALLS, variant="no_impl"),  # another variant: never compared
    ]

    duplicates, examined = find_near_duplicates(records, DedupSettings(threshold=0.7))

    assert examined == {"digit_tc": 4, "no_impl": 1}
    assert [(d.conversation_id, d.duplicate_of) for d in duplicates] == [
        ("digit_tc-2026-000002", "digit_tc-2026-000001"),
        ("digit_tc-2026-000003", "digit_tc-2026-000001"),
    ]
    assert duplicates[0].similarity == 1.0
    assert 0.7 <= duplicates[1].similarity < 1.0


def test_the_same_request_with_other_calls_is_not_a_duplicate_at_a_strict_threshold():
    records = [
        _conversation("a", ORDER, CALLS),
        _conversation("b", ORDER, ["search_products", "add_to_cart", "checkout", "get_invoice"]),
    ]
    strict, _ = find_near_duplicates(records, DedupSettings(threshold=0.95))
    loose, _ = find_near_duplicates(records, DedupSettings(threshold=0.5))
    assert strict == []
    assert [(d.conversation_id, d.duplicate_of) for d in loose] == [("b", "a")]


def test_the_result_does_not_depend_on_input_order():
    records = [_conversation(f"c{i}", ORDER, CALLS) for i in range(5)]
    forward, _ = find_near_duplicates(records)
    backward, _ = find_near_duplicates(list(reversed(records)))
    assert forward == backward
    assert {d.duplicate_of for d in forward} == {"c0"}


@pytest.mark.parametrize("knobs", [{"threshold": 0.0}, {"threshold": 1.5}, {"num_perm": 4}, {"shingle_words": 0}])
def test_settings_out_of_range_are_refused_by_name(knobs):
    with pytest.raises(ValueError, match=next(iter(knobs)).split("_")[0]):
        DedupSettings(**knobs)


def test_the_funnel_reports_the_near_duplicate_stage_only_when_it_ran():
    events = [("digit_tc", None, "scenario", True), ("digit_tc", 1, "summary", True), ("digit_tc", None, "judge", True)]
    without = funnel_rows(events)
    with_dedup = funnel_rows(events + [("digit_tc", None, "near_duplicate", True), ("digit_tc", None, "near_duplicate", False)])
    assert "near_duplicate" not in {row["stage"] for row in without}
    assert with_dedup[-1] == {
        "variant": "digit_tc", "level": "conversation", "stage": "near_duplicate", "attempted": 2, "accepted": 1, "rejected": 1,
    }
