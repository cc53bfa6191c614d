"""Level-by-level ``$ref``/``allOf`` resolution (:func:`resolve_local`), as the planner and simulator use it."""

from __future__ import annotations

from digit_assets.engine.schema_refs import local_target, resolve_local

ROOT = {
    "$defs": {
        "Money": {"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]},
        "Priced": {"allOf": [{"$ref": "#/$defs/Money"}, {"properties": {"currency": {"type": "string"}}, "required": ["currency"]}]},
        "a/b": {"type": "string"},
        "Loop": {"$ref": "#/$defs/Loop"},
    },
}


def test_a_ref_is_followed_and_its_siblings_override_the_target() -> None:
    resolved = resolve_local({"$ref": "#/$defs/Money", "description": "what was paid"}, ROOT)
    assert resolved == {**ROOT["$defs"]["Money"], "description": "what was paid"}


def test_all_of_merges_properties_and_adds_up_required() -> None:
    resolved = resolve_local({"$ref": "#/$defs/Priced"}, ROOT)
    assert resolved is not None
    assert set(resolved["properties"]) == {"amount", "currency"}
    assert resolved["required"] == ["amount", "currency"]


def test_a_nullable_branch_is_taken_only_when_asked() -> None:
    optional = {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Money"}]}
    assert resolve_local(optional, ROOT) == optional
    assert resolve_local(optional, ROOT, nullable_branch=True) == ROOT["$defs"]["Money"]


def test_what_cannot_be_resolved_is_none() -> None:
    assert resolve_local({"$ref": "#/$defs/Missing"}, ROOT) is None
    assert resolve_local({"$ref": "https://example.com/schema.json"}, ROOT) is None
    assert resolve_local({"$ref": "#/$defs/Loop"}, ROOT) is None  # a chain that never ends
    assert resolve_local(["not", "a", "schema"], ROOT) is None


def test_pointer_escapes_are_decoded() -> None:
    assert local_target({"$defs": {"a/b": {"type": "string"}}}, "#/$defs/a~1b") == {"type": "string"}
    assert local_target(ROOT, "#/$defs/a~1b/type") is None  # leads to a string, not a schema object
