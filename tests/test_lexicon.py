"""The lexicon's word forms, including where its two singulars deliberately differ."""

from __future__ import annotations

from digit_assets.engine.lexicon import (
    acting_phrase,
    flag_after,
    state_stems,
    changes_state,
    name_words,
    parse_tool_name,
    past_tense,
    singular,
    singularize,
    split_words,
    text_words,
    tool_context,
    tool_verb,
)


def test_identifiers_split_the_same_in_every_naming_style() -> None:
    for name in ("getOrderDetails", "get_order_details", "GetOrderDetails", "get-order-details", "get.order.details"):
        assert name_words(name) == ("get", "order", "details")
    assert split_words("OrderID") == ["order", "id"]
    assert split_words("HTTPServer") == ["http", "server"]
    assert split_words("v2_list_orders") == ["v2", "list", "orders"]
    assert name_words("customerEmail") == ("customer", "email")


def test_the_two_singulars() -> None:
    assert singularize("statuses") == "status" and singular("statuses") == "statuse"
    assert singularize("status") == "status" and singular("status") == "statu"
    assert singularize("categories") == singular("categories") == "category"
    assert singular("address") == "address"


def test_text_words() -> None:
    assert text_words("Order ORD-123, due 2025-05-03!") == ["order", "ord", "123", "due", "2025", "05", "03"]


def test_verbs_read_write_and_state() -> None:
    assert tool_verb("orders.cancel") == "cancel" and changes_state("orders.cancel")
    assert tool_verb("get_order_details") == "get" and not changes_state("get_order_details")
    assert tool_context("get_order_details") == ("order", "detail")
    assert parse_tool_name("cancel_booking").action == "state"
    assert parse_tool_name("listOrders").action == "list"


def test_flags_and_states_an_action_leaves():
    assert flag_after("trash_file", "in_trash") is True
    assert flag_after("restore_file", "in_trash") is False and flag_after("restoreFile", "isDeleted") is False
    assert flag_after("mark_as_read", "is_read") is True and flag_after("mark_unread", "read") is False
    assert flag_after("deactivate_user", "active") is False and flag_after("enable_alerts", "enabled") is True
    assert flag_after("get_file_info", "in_trash") is None and flag_after("trash_file", "shared") is None
    assert state_stems("cancel_order") == ("cancel", "void") and state_stems("close_ticket") == ("close",)
    assert state_stems("get_order") == () and state_stems("create_ticket") == ()


def test_an_unknown_verb_before_a_preposition_is_the_action():
    assert acting_phrase("reply_to_ticket") == ("reply", "to", ("ticket",))
    assert acting_phrase("respondToInvitation") == ("respond", "to", ("invitation",))
    assert acting_phrase("get_order") is None and acting_phrase("search_by_name") is None


def test_a_tool_named_after_a_verb_keeps_it_and_says_it_in_the_past():
    assert tool_verb("trash_file") == "trash" and tool_verb("upload_file") == "upload" and tool_verb("orders.cancel") == "cancel"
    assert [past_tense(verb) for verb in ("restore", "trash", "log", "reply", "pin", "print")] == [
        "restored", "trashed", "logged", "replied", "pinned", "printed"
    ]


def test_a_plain_setting_is_said_as_a_person_marks_it_and_read_back() -> None:
    from analytics.realism import named_parameter
    from digit_assets.engine.lexicon import boolean_phrases, read_boolean

    on, off = boolean_phrases(["internal"])[True], boolean_phrases(["internal"])[False]
    assert on[0] == "marked internal" and not any(phrase.startswith("as ") for phrase in on)
    for phrase in on:
        text = f'Reply "I reset your password." {phrase.removeprefix("and ")} to ticket TIC-1.'
        assert read_boolean(["internal"], text) is True
        assert named_parameter(text, ["internal"], ["I reset your password.", True]) is None
    assert read_boolean(["internal"], f'Reply "Thanks", {off[0]}.') is False
    # the wording this replaces: after a quoted value "as" labels it with the field's name
    assert named_parameter('Reply "I reset your password.", as internal.', ["internal"], ["I reset your password.", True]) == "internal"
