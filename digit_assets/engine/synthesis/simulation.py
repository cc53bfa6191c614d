"""Stateless execution (method.md step 6): ``$k.path`` substitution, schema validation of
arguments and outputs, and the consistency of each output with its call and the session, whoever
simulates the tool (the offline simulator is :mod:`digit_assets.engine.offline.simulator`)."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import jsonschema_rs

from digit_assets.engine.lexicon import (
    CLOCK_WORDS,
    CREATING_VERBS,
    ONCE_ONLY_VERBS,
    FilterKind,
    changes_state,
    flag_after,
    is_ended_status,
    is_refund_field,
    is_status_field,
    key_noun,
    list_filter,
    name_words,
    normalize_name,
    removes,
    setter_field,
    shows_setter,
    total_of,
    singular,
    state_stems,
    tool_context,
    tool_verb,
)
from digit_assets.engine.synthesis.model import ExecutedCall, PlannedCall, ToolView, parse_reference, resolve_path
from digit_assets.engine.schema_refs import refuse_uri

# --- Reference substitution ----------------------------------------------------------------------


class ReferenceResolutionError(LookupError):
    """A ``$k.path`` argument whose producer, or whose path in the producer's output, is missing."""


def resolve_arguments(call: PlannedCall, executed: Mapping[str, ExecutedCall]) -> dict[str, Any]:
    """The call's arguments with every ``$k.path`` replaced by the value in ``$k``'s simulated output."""
    arguments: dict[str, Any] = {}
    for param, value in call.arguments.items():
        parsed = parse_reference(value)
        if parsed is None:
            arguments[param] = value
            continue
        ref, path = parsed
        producer = executed.get(ref)
        if producer is None or producer.output is None:
            raise ReferenceResolutionError(
                f"{call.ref} {call.tool}: argument {param}={value!r} refers to {ref}, which has no simulated output"
            )
        try:
            arguments[param] = resolve_path(producer.output, path)
        except (KeyError, IndexError, TypeError) as exc:
            raise ReferenceResolutionError(
                f"{call.ref} {call.tool}: argument {param}={value!r}: the output of {ref} ({producer.tool}) has no {path}"
            ) from exc
    return arguments


# --- Identity caches -----------------------------------------------------------------------------

MISSING: Any = object()


class IdentityCache:
    """Results derived from objects never mutated in place (schemas, executed calls), keyed by the
    object's identity: a lookup costs a dict access instead of serializing a schema (~20 us).
    Entries keep their key object alive, so an id cannot be reused while its entry exists."""

    def __init__(self, limit: int):
        self._entries: dict[int, tuple[Any, Any]] = {}
        self._limit = limit

    def get(self, key: Any) -> Any:
        entry = self._entries.get(id(key))
        return entry[1] if entry is not None and entry[0] is key else MISSING

    def put(self, value: Any, key: Any) -> Any:
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[id(key)] = (key, value)
        return value


class RecentCache:
    """The ``limit`` most recently used results under hashable keys, for many worker threads at once
    (an LRU's reordering is not atomic, hence the lock). A key may hold ids of objects never mutated
    in place: :meth:`put` keeps those objects (``pinned``) alive with the entry, so an id cannot be
    reused while it exists. Values are shared between callers, who must not mutate them."""

    def __init__(self, limit: int):
        self._entries: OrderedDict[Any, tuple[Any, Any]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return MISSING
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Any, value: Any, pinned: Any = ()) -> Any:
        with self._lock:
            self._entries[key] = (pinned, value)
            self._entries.move_to_end(key)
            if len(self._entries) > self._limit:
                self._entries.popitem(last=False)
        return value

    def get_or_put(self, key: Any, build: Callable[[], Any], pinned: Any = ()) -> Any:
        """The value under ``key``, built and kept first if it is not there."""
        found = self.get(key)
        return self.put(key, build(), pinned) if found is MISSING else found


# --- Schema validation ---------------------------------------------------------------------------

# RFC 3339 "time" demands seconds and an offset; people and the value factory write "14:30".
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$", re.IGNORECASE)
_LENIENT_FORMATS = {"time": lambda value: bool(TIME_OF_DAY.match(value))}
_MAX_PROBLEMS = 5


@lru_cache(maxsize=2_048)
def _compile(schema_text: str) -> jsonschema_rs.Validator | str:
    """A validator for a schema, or why the schema is unusable; equal schemas share one."""
    try:
        return jsonschema_rs.validator_for(
            json.loads(schema_text), validate_formats=True, formats=_LENIENT_FORMATS, retriever=refuse_uri
        )
    except ValueError as exc:
        return str(exc).splitlines()[0]


_VALIDATORS = IdentityCache(8_192)


def _validator(schema: Mapping[str, Any]) -> jsonschema_rs.Validator | str:
    cached = _VALIDATORS.get(schema)
    if cached is MISSING:
        cached = _VALIDATORS.put(_compile(json.dumps(schema, sort_keys=True)), schema)
    return cached


def _location(path: Sequence[str | int]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else str(step)
    return text or "the top level"


def _schema_problems(tool: str, what: str, schema: Mapping[str, Any], instance: Any) -> list[str]:
    validator = _validator(schema)
    if isinstance(validator, str):
        return [f"{tool}: the {what} schema is not valid JSON Schema ({validator})"]
    if validator.is_valid(instance):
        return []
    errors = list(validator.iter_errors(instance))
    problems = [f"{tool} {what} at {_location(error.instance_path)}: {error.message}" for error in errors[:_MAX_PROBLEMS]]
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"{tool} {what}: {len(errors) - _MAX_PROBLEMS} more schema violations")
    return problems


def argument_problems(tool: ToolView, arguments: dict[str, Any]) -> list[str]:
    """Why these arguments do not validate against the tool's parameter schema (empty: they do)."""
    return _schema_problems(tool.name, "arguments", tool.parameters, arguments)


def output_problems(tool: ToolView, output: dict[str, Any]) -> list[str]:
    """Why this result does not validate against the tool's output schema (empty: it does)."""
    return _schema_problems(tool.name, "output", tool.output_schema, output)




# --- Consistency with the call and the session ---------------------------------------------------
#
# The session history is the state. A result that contradicts it is refused whoever simulated it:
# a write that does not show what it set, a list with an item its filter excludes, or an object
# whose field differs from what the session last said about it with no write in between.

_NON_WORD = re.compile(r"[\W_]+")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (dict, list))


def _written(value: Any, keep_case: bool = True) -> str:
    """A scalar as its words between spaces (``/home/docs`` -> `` home docs ``), for word-aligned search."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    words = _NON_WORD.sub(" ", text if keep_case else text.lower()).strip()
    return f" {words or text.strip()} "


def _leaves(value: Any) -> list[Any]:
    return [item for item in value if _is_scalar(item)] if isinstance(value, list) else [value] if _is_scalar(value) else []


def _field_values(output: Any) -> Iterator[tuple[str, Any]]:
    """(field name, value) of every object field in an output, recursively."""
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                yield str(key), value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def objects(output: Any) -> Iterator[dict[str, Any]]:
    """Every object in an output, nested ones and list items included."""
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
            yield item


def object_at(output: Any, path: str) -> dict[str, Any] | None:
    """The object ``path`` reaches in an output (``orders[1]``; ``""``: the output), or None."""
    try:
        found = resolve_path(output, path) if path else output
    except (KeyError, IndexError, TypeError):
        return None
    return found if isinstance(found, dict) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _ISO_DAY.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def _same(a: Any, b: Any) -> bool:
    """Equal as a system would store them: numbers by value, text without case and spacing."""
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return abs(x - y) < 1e-9
    return _written(a, keep_case=False) == _written(b, keep_case=False)


def unreflected_setters(tool: str, arguments: Mapping[str, Any], output: Any) -> list[str]:
    """A write whose output has a field showing what an argument set (``new_name`` -> ``name``,
    ``destination`` -> ``directory``, ``tag`` -> ``tags``, ``status`` -> ``status``) must show the
    value there (removing verbs: must no longer show it)."""
    fields = list(_field_values(output))
    taking_away = removes(tool)
    problems: list[str] = []
    for argument, value in arguments.items():
        setter = setter_field(argument, tool)
        items = _leaves(value)
        if setter is None or not items or (isinstance(value, list) and len(items) != len(value)):
            continue
        showing = [(name, field) for name, field in fields if shows_setter(setter, name)]
        if not showing:
            continue
        shown = [_written(leaf) for _, field in showing for leaf in _leaves(field)]
        for item in items:
            needle = _written(item)
            present = any(needle in leaf for leaf in shown)
            if present == taking_away:
                where = ", ".join(f"{name}={field!r}" for name, field in showing[:2])
                verb = "still shows" if taking_away else "does not show"
                problems.append(f"{tool} output {verb} {argument}={item!r} ({where})")
    return problems


def _item_field(item: Mapping[str, Any], words: tuple[str, ...]) -> str | None:
    wanted = tuple(singular(w) for w in words)
    return next((key for key in item if tuple(singular(w) for w in name_words(str(key))) == wanted), None)


def _satisfies(field: Any, value: Any, kind: FilterKind) -> bool | None:
    """Whether a listed item's field meets a filter; None when the two cannot be compared."""
    leaves = _leaves(field)
    if not leaves:
        return None
    if kind == "part":
        return any(str(value).lower() in str(leaf).lower() for leaf in leaves)
    if kind == "equal":
        needle = _written(value, keep_case=False)
        return any(_same(leaf, value) or needle in _written(leaf, keep_case=False) for leaf in leaves)
    bound, actual = _number(value), _number(leaves[0])
    if bound is None or actual is None:
        bound, actual = _moment(value), _moment(leaves[0])
        if bound is None or actual is None:
            return None
        if len(str(value)) == 10:  # a date bounds whole days
            bound, actual = bound.date(), actual.date()
    return actual >= bound if kind == "min" else actual <= bound


def _listed(output: Mapping[str, Any]) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    for name, value in output.items():
        if isinstance(value, list):
            yield str(name), [item for item in value if isinstance(item, dict)]


def ignored_filters(tool: str, arguments: Mapping[str, Any], output: Mapping[str, Any]) -> list[str]:
    """A read's listed items that its filter arguments exclude (``status=open`` listing a closed one,
    ``name_contains=report`` listing ``notes.txt``, ``min_size_bytes=100`` listing 40 bytes)."""
    problems: list[str] = []
    filters = [(argument, value, list_filter(argument)) for argument, value in arguments.items() if _is_scalar(value)]
    for list_name, items in _listed(output):
        for argument, value, target in filters:
            if target is None or not _written(value).strip():
                continue
            words, kind = target
            for position, item in enumerate(items):
                field = _item_field(item, words)
                if field is not None and _satisfies(item[field], value, kind) is False:
                    problems.append(f"{tool} lists {list_name}[{position}] with {field}={item[field]!r} although {argument}={value!r}")
                    break
    return problems


EntityKey = tuple[str, str]  # (singular noun, id as text)


def _own_key(entity: Mapping[str, Any], noun: str | None) -> EntityKey | None:
    """``id``, or ``<noun>_id`` (any spelling): the field naming the object itself."""
    for key, value in entity.items():
        if not _is_scalar(value) or isinstance(value, bool) or not noun:
            continue
        name = normalize_name(str(key))
        if name in ("id", f"{noun}_id", f"{noun}_uuid", "uuid"):
            return noun, str(value)
    return None


def entities(tool: str, output: Any) -> Iterator[tuple[EntityKey, Mapping[str, Any]]]:
    """Objects with their own id in an output: the output itself (about the tool's noun), its object
    fields and the items of its lists (about the field's noun)."""
    if not isinstance(output, dict):
        return
    context = tool_context(tool)
    key = _own_key(output, context[0] if len(context) == 1 else None) or next(
        (k for noun in context if (k := _own_key({n: v for n, v in output.items() if n != "id"}, noun))), None
    )
    if key:
        yield key, output
    for name, value in output.items():
        words = name_words(str(name))
        noun = singular(words[-1]) if words else None
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and (key := _own_key(item, noun)):
                yield key, item


def _comparable(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {
        normalize_name(str(name)): value
        for name, value in entity.items()
        if _is_scalar(value) and not set(name_words(str(name))) & CLOCK_WORDS
    }


def _names_an_id(field_name: str) -> bool:
    return name_words(field_name)[-1:] in (("id",), ("ids",), ("uuid",))


def _subjects(call: ExecutedCall) -> list[EntityKey]:
    """The objects a call is about: its ``id`` / ``<noun>_id`` arguments for the tool's nouns."""
    return [
        (noun, str(value))
        for argument, value in call.arguments.items()
        if _is_scalar(value)
        for noun in tool_context(call.tool)
        if normalize_name(argument) in ("id", f"{noun}_id")
    ]


def _created_key(call: ExecutedCall) -> EntityKey | None:
    """The object a creating call made: the output's own key (``create_ticket`` -> its ticket)."""
    if tool_verb(call.tool) not in CREATING_VERBS or not isinstance(call.output, dict):
        return None
    return next((key for key, entity in entities(call.tool, call.output) if entity is call.output), None)


def session_views(history: Sequence[ExecutedCall]) -> dict[EntityKey, dict[str, Any]]:
    """What the session last said about each object. A write that names an object (its id among the
    arguments or in its output) forgets what was known of it and records what it set instead: a read
    after ``rename_file(file_id=f, new_name=b)`` must show ``b``."""
    views: dict[EntityKey, dict[str, Any]] = {}
    holds: dict[EntityKey, set[str]] = {}  # the texts an object holds in nested objects (its payment methods)
    for call in history:
        if call.output is None or call.error is not None:
            continue
        found = list(entities(call.tool, call.output))
        if changes_state(call.tool):
            # A write changes what it names, and what holds something it names: a refund to a gift
            # card changes the balance of the customer who holds that card.
            named = {leaf for _, value in _field_values(call.arguments) for leaf in _leaves(value) if isinstance(leaf, str)}
            named |= {key[1] for key, _ in found} | {
                leaf for name, value in _field_values(call.output) if _names_an_id(name) for leaf in _leaves(value) if isinstance(leaf, str)
            }
            for key in [key for key in views if key[1] in named or holds.get(key, set()) & named]:
                del views[key]
            set_fields = {
                "_".join(setter): value
                for argument, value in call.arguments.items()
                if _is_scalar(value)
                and (setter := setter_field(argument, call.tool))
                and not shows_setter(setter, "directory")  # where a destination shows is the output's to say
            }
            for key in _subjects(call) if set_fields else ():
                views.setdefault(key, {}).update(set_fields)
            made = _created_key(call)  # a created object holds what it was created with
            if made is not None:
                views.setdefault(made, {}).update(_comparable({n: v for n, v in call.arguments.items() if v is not None}))
        for key, entity in found:
            views.setdefault(key, {}).update(_comparable(entity))
            nested = [value for value in entity.values() if isinstance(value, (dict, list))]
            holds.setdefault(key, set()).update(leaf for _, value in _field_values(nested) for leaf in _leaves(value) if isinstance(leaf, str))
    return views


def changed_entities(tool: str, output: Any, history: Sequence[ExecutedCall]) -> list[str]:
    """Objects a read returns with a field value other than the session's last word on it."""
    views = session_views(history)
    problems: list[str] = []
    for key, entity in entities(tool, output):
        seen = views.get(key)
        if not seen:
            continue
        for name, value in _comparable(entity).items():
            if name in seen and name not in ("id", f"{key[0]}_id") and not _same(seen[name], value):
                problems.append(f"{tool} returns {key[0]} {key[1]} with {name}={value!r}, but the session says {seen[name]!r}")
                break
    return problems


def refund_limits(obj: Mapping[str, Any], known: Callable[[str, Any], Mapping[str, Any]]) -> list[float]:
    """The totals a refund in ``obj`` may not exceed: the object's own, and that of each object one
    of its id fields names, as ``known(field name, value)`` tells (``order_id`` -> the order)."""
    limits = [_number(total_of(obj))]
    for name, value in obj.items():
        if _names_an_id(str(name)) and _is_scalar(value) and not isinstance(value, bool):
            limits.append(_number(total_of(known(str(name), value))))
    return [limit for limit in limits if limit is not None]


def excessive_refunds(tool: str, output: Any, history: Sequence[ExecutedCall]) -> list[str]:
    """A refund larger than the total of what it refunds: an order of 161.82 refunded 390.07."""
    refunding: list[tuple[Mapping[str, Any], list[tuple[str, float]]]] = []
    for item in objects(output):
        refunds = [(str(name), amount) for name, value in item.items() if is_refund_field(str(name)) and (amount := _number(value)) is not None]
        if refunds:
            refunding.append((item, refunds))
    if not refunding:
        return []
    views = session_views(history)

    def known(field: str, value: Any) -> Mapping[str, Any]:
        return views.get((key_noun(field) or tool_context(tool)[0], str(value)), {})

    problems: list[str] = []
    for item, refunds in refunding:
        limits = refund_limits(item, known)
        for name, amount in refunds:
            if limits and amount > min(limits) + 0.005:
                problems.append(f"{tool} refunds {name}={amount:g}, more than the total {min(limits):g} of what it refunds")
    return problems


def unheld_values(tool: str, output: Any, held: Mapping[str, Sequence[Any]]) -> list[str]:
    """A result that lists an object without the values a later call of the turn removes from it
    (``held``: path -> values, :func:`.planning.held_values`); a path the result lacks is the later
    reference's to report."""
    problems: list[str] = []
    for path, values in held.items():
        try:
            shown = resolve_path(output, path)
        except (KeyError, IndexError, TypeError):
            continue
        missing = [value for value in values if not isinstance(shown, list) or value not in shown]
        if missing:
            problems.append(f"{tool} output does not show {missing!r} in {path}, which a later call of this turn removes")
    return problems


def ended_before_change(tool: str, output: Any, changed_later: Sequence[str], history: Sequence[ExecutedCall]) -> list[str]:
    """A result showing as cancelled, refunded, returned or deleted an object a later call of the
    turn changes (``changed_later``: paths, :func:`.planning.changed_later`), unless the session saw
    it so before (then the result must say so, and the later call is refused)."""
    problems: list[str] = []
    views = session_views(history) if changed_later else {}
    for path in changed_later:
        shown = object_at(output, path)
        if shown is None:
            continue
        step = path.rpartition(".")[2].partition("[")[0]
        nouns = [singular(name_words(step)[-1])] if step and name_words(step) else list(tool_context(tool))
        seen = next((views.get(key, {}) for noun in nouns if (key := _own_key(shown, noun))), {})
        for name, value in shown.items():
            if is_status_field(str(name)) and is_ended_status(value) and not is_ended_status(seen.get(normalize_name(str(name)))):
                problems.append(f"{tool} output shows {path or 'its object'} as {value!r}, but a later call of this turn changes it")
    return problems


def _marked(tool: str, output: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """The fields of the object an action acts on: the output's own, and those of an object field
    named after the tool's noun (``{"file": {...}}``)."""
    context = tool_context(tool)
    yield from output.items()
    for name, value in output.items():
        words = name_words(str(name))
        if isinstance(value, dict) and words and singular(words[-1]) in context:
            yield from value.items()


def _enum_of(schema: Mapping[str, Any], field: str) -> list[Any] | None:
    properties = schema.get("properties")
    declared = properties.get(field) if isinstance(properties, Mapping) else None
    return list(declared["enum"]) if isinstance(declared, Mapping) and isinstance(declared.get("enum"), list) else None


def unmarked_actions(tool: str, output: Mapping[str, Any], output_schema: Mapping[str, Any] = {}) -> list[str]:
    """An action whose result does not show what it did to its object: ``cancel_order`` with a
    status other than cancelled, ``trash_file`` with ``in_trash: false``, ``restore_file`` with
    ``is_deleted: true``. A status is only held to the action when the schema allows a fitting one."""
    stems = state_stems(tool)
    problems: list[str] = []
    for name, value in _marked(tool, output):
        if isinstance(value, bool):
            wanted = flag_after(tool, str(name))
            if wanted is not None and value != wanted:
                problems.append(f"{tool} output has {name}={value!r}, which the action does not leave")
        elif stems and isinstance(value, str) and name_words(str(name))[-1:] in (("status",), ("state",)):
            allowed = _enum_of(output_schema, str(name))
            fitting = lambda text: any(w.startswith(stem) for w in name_words(str(text)) for stem in stems)  # noqa: E731
            if not fitting(value) and (allowed is None or any(fitting(option) for option in allowed)):
                problems.append(f"{tool} output has {name}={value!r}, which is not the state the action leaves")
    return problems


_COUNT_NAMES = frozenset({"count", "total_count", "total_results", "result_count", "results_count", "num_results", "total_items"})
# Count fields that count the items of this response (a ``total`` may count every page).
_EXACT_COUNT_NAMES = frozenset({"count", "result_count", "results_count", "num_results"})
_PAGING_WORDS = frozenset({"limit", "page", "offset", "cursor", "next", "more", "token", "size", "per", "top", "max"})


def count_targets(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(count field, list field) pairs where the count describes how many items the list holds."""
    arrays = [field for field, value in obj.items() if isinstance(value, list)]
    targets = []
    for field, value in obj.items():
        if type(value) is not int:
            continue
        named = [a for a in arrays if field in (f"{a}_count", f"{singular(a)}_count", f"num_{a}", f"total_{a}")]
        if named:
            targets.append((field, named[0]))
        elif field in _COUNT_NAMES and len(arrays) == 1:
            targets.append((field, arrays[0]))
    return targets


def _paged(arguments: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether a list may be one page of more: the call limits or pages it, or the result says so."""
    return any(set(name_words(str(name))) & _PAGING_WORDS for name in (*arguments, *obj))


def exact_count(count_field: str, list_field: str, arguments: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether a count must equal the number of items listed: a ``count`` (not a ``total``) of a
    list that is not one page of more."""
    return (count_field in _EXACT_COUNT_NAMES or not count_field.startswith("total")) and not _paged(arguments, obj)


def miscounted_lists(tool: str, arguments: Mapping[str, Any], output: Any) -> list[str]:
    """A count that disagrees with the items listed beside it: fewer than listed, or another number
    than listed where nothing is paged (``{"count": 5, "orders": [two orders]}``)."""
    problems: list[str] = []
    stack = [output]
    while stack:
        obj = stack.pop()
        if isinstance(obj, list):
            stack.extend(obj)
            continue
        if not isinstance(obj, dict):
            continue
        stack.extend(obj.values())
        for count_field, list_field in count_targets(obj):
            count, listed = obj[count_field], len(obj[list_field])
            if count < listed or (count != listed and exact_count(count_field, list_field, arguments, obj)):
                problems.append(f"{tool} output has {count_field}={count} beside {listed} {list_field}")
    return problems


def created_objects(history: Sequence[ExecutedCall]) -> dict[EntityKey, dict[str, Any]]:
    """Objects the session created and did not take away since: their key and what is known of
    them (the creating call's arguments and output fields)."""
    created: dict[EntityKey, dict[str, Any]] = {}
    for call in history:
        if call.output is None or call.error is not None or not isinstance(call.output, dict):
            continue
        verb = tool_verb(call.tool)
        if verb in CREATING_VERBS:
            key = _created_key(call)
            if key is not None:
                known = {name: value for name, value in call.arguments.items() if _is_scalar(value)}
                created[key] = {**known, **{name: value for name, value in call.output.items() if _is_scalar(value)}}
        elif verb in ONCE_ONLY_VERBS or removes(call.tool):
            named = {str(leaf) for _, value in _field_values(call.arguments) for leaf in _leaves(value)}
            for key in [key for key in created if key[1] in named]:
                del created[key]
            continue
        for key, entity in entities(call.tool, call.output):  # what later calls said of it
            if key in created:
                created[key].update({name: value for name, value in entity.items() if _is_scalar(value)})
        if changes_state(call.tool):
            for key in _subjects(call):
                if key in created:
                    created[key].update({name: value for name, value in call.arguments.items() if _is_scalar(value)})
    return created


def must_list(known: Mapping[str, Any], arguments: Mapping[str, Any]) -> bool:
    """Whether a read with these arguments lists every object it could, and this one fits it: no
    limit, paging or free-text search, and every argument is a field the object is known to match
    (``list_opportunities(account_id=A)`` after ``create_opportunity(account_id=A)``)."""
    for argument, value in arguments.items():
        words = name_words(argument)
        if set(words) & (_PAGING_WORDS | {"query", "q", "search", "keyword", "sort", "order"}) or not _is_scalar(value):
            return False
        if argument not in known or not _same(known[argument], value):
            return False
    return True


def missing_creations(tool: str, arguments: Mapping[str, Any], output: Any, history: Sequence[ExecutedCall]) -> list[str]:
    """A list of some kind of object that leaves out one the session created, although nothing in
    the call narrows it past that object (see :func:`must_list`)."""
    if not isinstance(output, dict):
        return []
    problems: list[str] = []
    for (noun, ident), known in created_objects(history).items():
        if not must_list(known, arguments):
            continue
        for list_name, items in _listed(output):
            words = name_words(list_name)
            if not words or singular(words[-1]) != noun:
                continue
            if not any(_own_key(item, noun) == (noun, ident) for item in items):
                problems.append(f"{tool} lists {list_name} without the {noun} {ident} created earlier")
    return problems


def consistency_problems(tool: ToolView, arguments: Mapping[str, Any], output: Mapping[str, Any], history: Sequence[ExecutedCall]) -> list[str]:
    """Why a simulated output contradicts its call or the session (empty: it does not). A write must
    show what it set and what it did; a read must honour its filters, list what the session created
    and agree with what the session said before; a count must agree with its items, a refund stay
    within the total of what it refunds. The catalog's
    side-effect class decides which one a tool is."""
    counted = miscounted_lists(tool.name, arguments, output) + excessive_refunds(tool.name, output, history)
    if not tool.read_only:
        return unreflected_setters(tool.name, arguments, output) + unmarked_actions(tool.name, output, tool.output_schema) + counted
    return (
        ignored_filters(tool.name, arguments, output)
        + changed_entities(tool.name, output, history)
        + missing_creations(tool.name, arguments, output, history)
        + counted
    )
