"""Side-effect classes: whether calling a tool may change the state of the system behind it.

The method hides only calls that discover something (a hidden call the user never asked for must
not act), so every tool carries a class, ``read_only`` or ``state_changing``, and the origin of the
class, strongest first:

- ``override``: the spec says so in its own key, ``x-side-effect`` or ``side_effect`` (on the MCP
  tool, the OpenAI function or its wrapper, the BFCL doc, the OpenAPI operation);
- ``declared``: MCP ``annotations`` (``readOnlyHint``; ``destructiveHint: true``), or a boolean
  ``readOnly`` / ``read_only`` / ``x-read-only`` key;
- ``http_method``: an OpenAPI operation's method (GET, HEAD, OPTIONS read; the others change state);
- ``description``: a function doc that says it in words ("read-only", "does not modify",
  "cannot be undone", ...), as BFCL and OpenAI function docs do;
- ``inferred``: the tool name's verb, read through :mod:`digit_assets.engine.lexicon`.

A tool whose name says neither is taken to change state: wrongly hiding a write is the worse error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from digit_assets.engine.lexicon import changes_state, parse_tool_name, singularize, split_words

SideEffect = Literal["read_only", "state_changing"]
SideEffectOrigin = Literal["override", "declared", "http_method", "description", "inferred"]
READ_ONLY: SideEffect = "read_only"
STATE_CHANGING: SideEffect = "state_changing"

OVERRIDE_KEYS = ("x-side-effect", "side_effect")
_READ_ONLY_FLAGS = ("readOnly", "read_only", "x-read-only", "x-readonly")
_HTTP_READ_METHODS = frozenset({"get", "head", "options"})
_OVERRIDE_SPELLINGS: dict[str, SideEffect] = {
    **dict.fromkeys(("read_only", "read-only", "readonly", "read", "none", "safe"), READ_ONLY),
    **dict.fromkeys(
        ("state_changing", "state-changing", "write", "writes", "mutating", "destructive", "side_effect"), STATE_CHANGING
    ),
}
_READ_ONLY_WORDS = re.compile(
    r"\b(read[- ]only|does not (?:modify|change|alter)|doesn't (?:modify|change|alter)|without (?:modifying|changing)|"
    r"no side[- ]effects?|has no effect on)\b",
    re.IGNORECASE,
)
_STATE_CHANGING_WORDS = re.compile(
    r"\b(destructive|cannot be undone|can't be undone|irreversibl[ey]|permanently (?:deletes?|removes?))\b", re.IGNORECASE
)
_READ_ACTIONS = frozenset({"list", "get", "validate"})
_WRITE_ACTIONS = frozenset({"create", "update", "state", "delete"})


class SideEffectClass(NamedTuple):
    side_effect: SideEffect
    origin: SideEffectOrigin


class SideEffectProblem(ValueError):
    """A spec's side-effect key holds a value that names no class."""


def parse_override(value: Any) -> SideEffect:
    """The class a spec's ``x-side-effect`` / ``side_effect`` value names, or why it names none."""
    if isinstance(value, str) and value.strip().lower() in _OVERRIDE_SPELLINGS:
        return _OVERRIDE_SPELLINGS[value.strip().lower()]
    spellings = ", ".join(sorted({"read_only", "state_changing"}))
    raise SideEffectProblem(f"side-effect override {value!r} is not one of {spellings}")


def _annotation_class(holder: Mapping[str, Any]) -> SideEffect | None:
    annotations = holder.get("annotations")
    if isinstance(annotations, Mapping):
        if annotations.get("readOnlyHint") is True:
            return READ_ONLY
        if annotations.get("readOnlyHint") is False or annotations.get("destructiveHint") is True:
            return STATE_CHANGING
    for key in _READ_ONLY_FLAGS:
        if isinstance(holder.get(key), bool):
            return READ_ONLY if holder[key] else STATE_CHANGING
    return None


def description_class(description: str) -> SideEffect | None:
    """What a description says in words about side effects; None when it says nothing."""
    if _STATE_CHANGING_WORDS.search(description):
        return STATE_CHANGING
    if _READ_ONLY_WORDS.search(description):
        return READ_ONLY
    return None


def inferred_side_effect(name: str) -> SideEffect:
    """The class the tool name's verb implies (lexicon). A name with no known verb reads when it is
    a view of an entity (``order_status``, ``title_details``); an unknown verb before a preposition
    (``respond_to_invitation``) or a lone unknown word (``mkdir``) changes state."""
    parsed = parse_tool_name(name)
    if parsed.verb is None:
        kept = {*parsed.entity, *parsed.view}
        unexplained = [word for word in split_words(name) if word not in kept and singularize(word) not in kept]
        if unexplained or not parsed.view:
            return STATE_CHANGING if unexplained or changes_state(name) else READ_ONLY
        return READ_ONLY
    if parsed.action in _READ_ACTIONS:
        return READ_ONLY
    if parsed.action in _WRITE_ACTIONS:
        return STATE_CHANGING
    return STATE_CHANGING if changes_state(name) else READ_ONLY


def classify(
    name: str, description: str = "", holders: Iterable[Any] = (), http_method: str | None = None
) -> SideEffectClass:
    """A tool's class from its source: ``holders`` are the spec objects that may carry the keys
    (the tool item, the OpenAI ``function`` inside it, the OpenAPI operation). Raises
    :class:`SideEffectProblem` for an override that names no class."""
    mappings = [holder for holder in holders if isinstance(holder, Mapping)]
    for holder in mappings:
        for key in OVERRIDE_KEYS:
            if key in holder:
                return SideEffectClass(parse_override(holder[key]), "override")
    for holder in mappings:
        declared = _annotation_class(holder)
        if declared is not None:
            return SideEffectClass(declared, "declared")
    if http_method:
        return SideEffectClass(READ_ONLY if http_method.lower() in _HTTP_READ_METHODS else STATE_CHANGING, "http_method")
    described = description_class(description or "")
    if described is not None:
        return SideEffectClass(described, "description")
    return SideEffectClass(inferred_side_effect(name), "inferred")
