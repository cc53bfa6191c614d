"""The session as state, for the offline roles: which fields identify a record, and what the
history of a conversation says about each record seen so far (the simulator keeps it consistent,
the mistake proposer draws sibling ids from it)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from digit_assets.engine.lexicon import (
    CREATING_VERBS,
    changes_state,
    is_entity_key,
    name_words,
    singular,
    subject_key,
    tool_context,
    tool_verb,
)
from digit_assets.engine.synthesis.model import ExecutedCall
from digit_assets.engine.synthesis.simulation import MISSING, IdentityCache

# --- Which fields identify what ------------------------------------------------------------------

_IDENTIFYING = frozenset({"email", "name", "phone", "username", "title", "handle"})
# Names so generic that only the shallowest object of a result is the one an argument describes.
GENERIC_FIELDS = frozenset({"id", "uuid", "key", "name", "title", "description", "label", "value"})
FILTER_WORDS = frozenset({"date", "status", "type", "category", "city", "country", "state", "brand", "genre", "department", "priority", "color", "size", "location", "language", "currency"})
_FILTER_NAMES = frozenset((word,) for word in FILTER_WORDS)


@lru_cache(maxsize=16_384)
def is_identifying(name: str) -> bool:
    """Fields whose values tell list items apart, so two items should not share them."""
    return is_entity_key(name) or bool(set(name_words(name)) & _IDENTIFYING)


def own_key(fields: Sequence[str], context: Sequence[str]) -> str | None:
    """The field naming the object itself: ``id``, else the key about the context noun, else the first key."""
    keys = [f for f in fields if is_entity_key(f)]
    if not keys:
        return None
    return next((k for k in keys if k in ("id", "uuid")), None) or next(
        (k for k in keys if singular(name_words(k)[0]) in context), keys[0]
    )


def context_of(name: str) -> tuple[str, ...]:
    words = name_words(name)
    return (singular(words[-1]),) if words else ()


def _entity_key(field_name: str, value: Any) -> Hashable:
    """String ids are distinctive on their own (``ORD-12345``); numbers need their field name."""
    return value if isinstance(value, str) else (field_name, value)


def is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (dict, list))


# --- The session as state ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Contribution:
    """What one executed call tells about the state: values by name, and object updates in order."""

    values: tuple[tuple[str, Hashable], ...]
    updates: tuple[tuple[Hashable, dict[str, Any]], ...]


def _contribution(call: ExecutedCall) -> _Contribution:
    values: list[tuple[str, Hashable]] = []
    updates: list[tuple[Hashable, dict[str, Any]]] = []
    context = tool_context(call.tool)

    def collect(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                collect(item, key)
        elif isinstance(value, list):
            for item in value:
                collect(item, name)
        elif value is not None and name:
            values.append((name, value))

    # A read call's list items match its filters: list_orders(customer_id=C) lists C's orders.
    filters = {} if changes_state(call.tool) else {
        name: value
        for name, value in call.arguments.items()
        if is_scalar(value) and (is_entity_key(name) or name_words(name)[-1:] in _FILTER_NAMES)
    }

    def remember(value: Any, nouns: tuple[str, ...], listed: bool) -> None:
        if isinstance(value, dict):
            key = own_key(list(value), nouns)
            if key is not None and is_scalar(value[key]):
                fields = {**filters, **value} if listed else value
                updates.append((_entity_key(key, value[key]), {f: v for f, v in fields.items() if v is not None}))
            for name, item in value.items():
                remember(item, context_of(name), False)
        elif isinstance(value, list):
            for item in value:
                remember(item, nouns, True)

    collect(call.arguments, "")
    collect(call.output, "")
    if tool_verb(call.tool) in CREATING_VERBS and isinstance(call.output, dict):
        # a created object holds what it was created with (the output's fields win where both say)
        key = subject_key(list(call.output), context)
        if key is not None and key not in call.arguments and is_scalar(call.output[key]):
            updates.append((_entity_key(key, call.output[key]), {f: v for f, v in call.arguments.items() if is_scalar(v)}))
    remember(call.output, context, False)
    if changes_state(call.tool):  # the arguments of an action are its object's new state
        key = subject_key(list(call.arguments), context)
        if key is not None and is_scalar(call.arguments[key]):
            updates.append((_entity_key(key, call.arguments[key]), {f: v for f, v in call.arguments.items() if v is not None}))
    return _Contribution(tuple(values), tuple(updates))


_CONTRIBUTIONS = IdentityCache(16_384)


@dataclass
class SessionState:
    """What the history says: values seen per name (in order), and the latest fields per object."""

    pool: dict[str, dict[Hashable, None]] = field(default_factory=dict)
    entities: dict[Hashable, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, history: Sequence[ExecutedCall]) -> SessionState:
        state = cls()
        for call in history:
            if call.output is None:  # an injected wrong call: its values were wrong on purpose
                continue
            contribution = _CONTRIBUTIONS.get(call)
            if contribution is MISSING:
                contribution = _CONTRIBUTIONS.put(_contribution(call), call)
            for name, value in contribution.values:
                state.pool.setdefault(name, {})[value] = None
            for key, fields in contribution.updates:
                state.entities.setdefault(key, {}).update(fields)
        return state

    def claimed(self, field_name: str) -> set[Any]:
        """Values known objects hold under ``field_name`` (the emails of the customers seen so far)."""
        return {fields[field_name] for fields in self.entities.values() if is_scalar(fields.get(field_name))}

    def record_of(self, key: str, value: Any) -> Mapping[str, Any]:
        return self.entities.get(_entity_key(key, value), {}) if is_scalar(value) else {}



