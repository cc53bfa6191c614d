"""The offline tool simulator (method.md step 6, role ``simulate_tool``).

There is no system to call, so the session history stands in for its state. The simulator reads
it the way a careful model would: the object a call is about keeps the fields it had before (an
order listed as placed on May 3rd is still placed on May 3rd when fetched), arguments come back
where the result describes them, an action leaves its mark (a cancelled order reads
"cancelled"), values seen earlier under the same name are reused, and anything new comes from
:class:`~digit_assets.engine.synthesis.values.ValueFactory`. It then repairs what the judge
(step 9) would reject in any generated object: past-tense dates after today, ends before begins,
totals that do not add up, counts below the number of listed items.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from digit_assets.engine.lexicon import (
    ACTIONS,
    CREATING_VERBS,
    WHOLE_REFUND_VERBS,
    changes_state,
    flag_after,
    is_ended_status,
    is_refund_field,
    is_status_field,
    list_filter,
    name_words,
    removes,
    setter_field,
    shows_setter,
    singular,
    tool_context,
    tool_verb,
)
from digit_assets.engine.offline.fields import (
    expected_aggregates,
    has_time,
    is_number,
    is_past_field,
    is_placeholder,
    misordered_pairs,
    parse_moment,
    rescaled_lines,
)
from digit_assets.engine.offline.schema_shapes import FieldShape, ObjectShape, Schemas, json_kind
from digit_assets.engine.offline.session import (
    FILTER_WORDS,
    GENERIC_FIELDS,
    SessionState,
    context_of,
    is_entity_key,
    is_identifying,
    is_scalar,
    own_key,
    subject_key,
)
from digit_assets.engine.synthesis.model import resolve_path
from digit_assets.engine.synthesis.planning import schema_at
from digit_assets.engine.synthesis.roles import SimulateToolRequest, SimulateToolResponse
from digit_assets.engine.synthesis.simulation import MISSING, count_targets, created_objects, exact_count, must_list, object_at, refund_limits
from digit_assets.engine.synthesis.values import ValueFactory, status_choices

_LOWER_MARKS = frozenset({"start", "from", "after", "since", "min", "minimum", "earliest", "begin"})
_UPPER_MARKS = frozenset({"end", "to", "until", "before", "max", "maximum", "latest"})
_LIMIT_PARAMS = frozenset({"limit", "page_size", "pagesize", "per_page", "max_results", "top_k", "num_results", "top_n", "size"})


def _tells_apart(spec: FieldShape, context: Sequence[str]) -> bool:
    """A name or email of the object itself (not ``customer_name`` on an order): siblings differ in it."""
    words = name_words(spec.name)
    return spec.identifying and not is_entity_key(spec.name) and (len(words) == 1 or singular(words[0]) in context)


# --- The simulator -------------------------------------------------------------------------------

_RETRIES = 5
_NAMED_BY_OBJECT = frozenset({"name", "title", "label", "subject", "status"})
_NEGATIONS = frozenset({"not", "no", "non", "un", "failed", "fail", "failure", "error", "unable", "invalid"})
_OPTIONAL_DEPTH = 4  # from this depth on, objects carry required fields only: recursive schemas end
_MAX_DEPTH = 12


@dataclass(frozen=True)
class _Place:
    """Where a value sits in the result: nesting depth, inside a list or not, index as a list item."""

    depth: int = 0
    in_list: bool = False
    position: int | None = None
    noun: str = ""  # what the object is (``product``): a generic ``name`` is a product name


def _with_moment(template: str, moment: datetime) -> str:
    """``template``'s representation (date only, or date-time with its seconds/offset) at ``moment``."""
    if has_time(template) and len(template) >= 16:
        return f"{moment.date().isoformat()}{template[10]}{moment:%H:%M}{template[16:]}"
    return moment.date().isoformat()


class _Simulation:
    """One simulated call: what the call asks, what the history knows, and the output being built."""

    def __init__(self, request: SimulateToolRequest, rng: random.Random):
        self.schemas = Schemas.of(request.tool.output_schema)
        self.arguments = request.arguments
        self.held = request.held
        self.changed_later = request.changed_later
        self.output_schema = request.tool.output_schema
        self.today = date.fromisoformat(request.today)
        self.rng = rng
        self.values = ValueFactory(rng, self.today)
        self.state = SessionState.read(request.history)
        self.tool = request.tool.name
        verb = tool_verb(request.tool.name)
        self.action = ACTIONS.get(verb)
        self.creates = verb in CREATING_VERBS
        self.context = tool_context(request.tool.name)
        self.subject = subject_key(list(self.arguments), self.context)
        self.item_limit = next(
            (v for k, v in self.arguments.items() if k.lower() in _LIMIT_PARAMS and isinstance(v, int) and not isinstance(v, bool) and v > 0),
            None,
        )
        self.bound_arguments: set[str] = set()
        self.bounds = self._argument_bounds()
        self.filters = {
            words[0]: value
            for name, value in self.arguments.items()
            if len(words := name_words(name)) == 1 and words[0] in FILTER_WORDS
        }
        self.shallowest = self.schemas.shallowest
        # A write shows what it set; a read lists only what its filters let through.
        self.writes = changes_state(request.tool.name)
        self.taking_away = removes(request.tool.name)
        self.setters = {
            name: words
            for name, value in self.arguments.items()
            if self.writes and is_scalar(value) and (words := setter_field(name, request.tool.name))
        }
        self.item_filters = {
            tuple(singular(w) for w in target[0]): (value, target[1])
            for name, value in self.arguments.items()
            if not self.writes and is_scalar(value) and (target := list_filter(name)) and target[1] in ("equal", "part")
        }
        # What the session created that this read lists in full: the new objects are among the items.
        self.created = [] if self.writes else [
            (noun, ident, known) for (noun, ident), known in created_objects(request.history).items() if must_list(known, self.arguments)
        ]

    def run(self) -> dict[str, Any]:
        root = self.schemas.resolve(self.schemas.root)
        output = self.object(root, self.context, _Place(), {})
        if not (self.held or self.changed_later):
            return output
        # A copy before the turn's later calls shape it: the values are shared with the history.
        output = copy.deepcopy(output)
        self.still_open(output)
        self.holding(output)
        return output

    def still_open(self, output: dict[str, Any]) -> None:
        """Objects a later call of the turn changes are shown in a state it can change: the first
        status their schema allows that is not cancelled, refunded, returned or deleted."""
        for path in self.changed_later:
            shown = object_at(output, path)
            if shown is None:
                continue
            context = context_of(path.rpartition(".")[2].partition("[")[0] or self.tool)
            key = own_key(list(shown), context)
            known = self.state.record_of(key, shown[key]) if key else {}
            properties = schema_at(self.output_schema, path).get("properties", {})
            for name, value in list(shown.items()):
                if not (is_status_field(name) and is_ended_status(value)) or is_ended_status(known.get(name)):
                    continue  # what the session saw ended stays ended: the later call is refused
                declared = self.schemas.resolve(properties.get(name, {})) if isinstance(properties, Mapping) else {}
                choices = declared.get("enum") or [v for noun in context for v in status_choices(noun)]
                open_one = next((choice for choice in choices if not is_ended_status(choice)), None)
                if open_one is not None:
                    shown[name] = open_one

    def holding(self, output: dict[str, Any]) -> None:
        """The objects a later call of the turn removes values from carry them (the person asks to
        remove a tag the file has)."""
        for path, values in self.held.items():
            try:
                shown = resolve_path(output, path)
            except (KeyError, IndexError, TypeError):
                continue
            if isinstance(shown, list):
                shown.extend(value for value in dict.fromkeys(values) if value not in shown)

    def _argument_bounds(self) -> dict[tuple[str, ...], list[Any]]:
        """``start_date``/``end_date`` -> ``{("date",): [start, end]}``: ranges results must fall in."""
        bounds: dict[tuple[str, ...], list[Any]] = {}
        for name, value in self.arguments.items():
            if not (is_number(value) or parse_moment(value)):
                continue
            words = name_words(name)
            for side, marks in enumerate((_LOWER_MARKS, _UPPER_MARKS)):
                stem = tuple(w for w in words if w not in marks)
                if stem and len(stem) < len(words):
                    bounds.setdefault(stem, [None, None])[side] = value
                    self.bound_arguments.add(name)
        return bounds

    # Generation --------------------------------------------------------------------------------

    def value(self, schema: Mapping[str, Any], name: str, place: _Place, used: Sequence[Any] = (), reuse: bool = True) -> Any:
        schema = self.schemas.resolve(schema)
        if "const" in schema:
            return schema["const"]
        kind = json_kind(schema)
        if kind == "object":
            return self.object(schema, context_of(name), _Place(place.depth + 1, place.in_list), {})
        if kind == "array":
            return self.array(schema, name, place)
        return self.leaf(schema, name, place, used, reuse)

    def object(self, schema: Mapping[str, Any], context: Sequence[str], place: _Place, taken: dict[str, list[Any]]) -> dict[str, Any]:
        """An object; ``taken`` holds the values its list siblings already use for identifying fields."""
        if place.depth > _MAX_DEPTH:
            return {}
        shape = self.schemas.shape(schema)
        place = _Place(place.depth, place.in_list, place.position, context[0] if context else "")
        key = own_key([f.name for f in shape.fields], context)
        acted_on = self.writes and place.position is None and place.depth <= 1
        result: dict[str, Any] = {}
        echoed: set[str] = set()
        record: Mapping[str, Any] = {}
        for key_spec in (f for f in shape.fields if f.name == key):
            new_subject = self.creates and place.depth == 0 and key not in self.arguments
            result[key], is_echo = self.field(key_spec, place, taken, record, False, distinct=True, is_key=True, reuse=not new_subject)
            if is_echo:
                echoed.add(key)
            record = self.state.record_of(key, result[key])
            acted_on = acted_on and (place.depth == 0 or is_echo)
        # A known object shows the optional fields it showed before: a total keeps adding up.
        optional_share = 0.7 if place.depth < _OPTIONAL_DEPTH else 0.0
        for spec in shape.fields:
            if spec.name == key or not (
                spec.required or spec.name in self.arguments or (spec.name in record if record else self.rng.random() < optional_share)
            ):
                continue
            result[spec.name], is_echo = self.field(spec, place, taken, record, acted_on, distinct=_tells_apart(spec, context))
            if is_echo:
                echoed.add(spec.name)
        for name in shape.undeclared_required:
            result[name] = self.values.value({}, name)
        kept = {name for name, value in result.items() if name not in echoed and record.get(name, MISSING) == value}
        self.repair(result, shape, echoed, kept)
        self.fit_refunds(result, echoed)
        return {**{f.name: result[f.name] for f in shape.fields if f.name in result}, **{n: result[n] for n in shape.undeclared_required}}

    def field(
        self,
        spec: FieldShape,
        place: _Place,
        taken: dict[str, list[Any]],
        record: Mapping[str, Any],
        acted_on: bool,
        distinct: bool,
        is_key: bool = False,
        reuse: bool = True,
    ) -> tuple[Any, bool]:
        """(value, echoes an argument): echo, then the action's mark, then the known object, then new.

        ``distinct`` fields take a value no list sibling has (``taken``).
        """
        echo = self.echo(spec, place, is_key, record)
        if echo is not MISSING:
            return echo, True
        if self.writes and not place.in_list:
            shown = self.shown_setting(spec, place, record)
            if shown is not MISSING:
                return shown, True
        if acted_on and spec.kind == "boolean" and (flag := flag_after(self.tool, spec.name)) is not None:
            return flag, False
        if acted_on and self.action is not None:
            mark = self.action_mark(spec)
            if mark is not MISSING:
                return mark, False
        used = taken.setdefault(spec.name, []) if distinct else None
        known = record.get(spec.name, MISSING)
        if self.setters and isinstance(known, dict):  # an address being updated shows the new street
            known = {**known, **{name: self.arguments[name] for name in known if name in self.setters}}
        if known is not MISSING and known not in (used or ()) and self.schemas.fits(known, spec.schema):
            value = known
        elif spec.kind in ("object", "array", "const"):
            value = self.value(spec.schema, spec.name, place, used or (), reuse)
        elif used is not None and not is_key:  # an object's own name, email or phone is no other known object's
            value = self.leaf(spec.schema, spec.name, place, [*used, *self.state.claimed(spec.name)], reuse)
        else:
            value = self.leaf(spec.schema, spec.name, place, used or (), reuse)
        if used is not None:
            used.append(value)
        return value, False

    def echo(self, spec: FieldShape, place: _Place, is_key: bool, record: Mapping[str, Any] = {}) -> Any:
        """The argument this field restates, if any.

        Specific names echo at any depth (a list filtered by ``customer_id`` lists that customer's
        items); generic names (``id``, ``name``) only at their shallowest level outside lists; a
        list item's own key only in the first item (the others are its siblings); range bounds
        never into list items (those fall inside the range instead); ``id`` restates the key
        argument the tool is about; a list item's ``order_date`` restates a ``date`` filter.
        """
        name = spec.name
        if place.in_list and self.item_filters and not (is_key and place.position not in (None, 0)):
            wanted = self.item_filters.get(tuple(singular(w) for w in name_words(name)))
            if wanted is not None and spec.kind not in ("array", "object"):
                value, kind = wanted
                known = record.get(name, MISSING)
                if kind == "part" and isinstance(known, str) and _has_part(known, value):
                    return known
                shown = value if kind == "equal" else self.containing(value, spec, place)
                if shown is not MISSING and self.schemas.fits(shown, spec.schema):
                    return shown
        if name in self.arguments:
            value = self.arguments[name]
            generic_elsewhere = spec.generic and (place.in_list or place.depth != self.shallowest.get(name))
            a_sibling = is_key and place.position not in (None, 0)
            a_range_bound = place.in_list and name in self.bound_arguments
            if not (generic_elsewhere or a_sibling or a_range_bound) and self.schemas.fits(value, spec.schema):
                return value
            return MISSING
        if name in ("id", "uuid") and self.subject and not place.in_list and place.depth == self.shallowest.get(name):
            value = self.arguments[self.subject]
            return value if self.schemas.fits(value, spec.schema) else MISSING
        if place.in_list and spec.last_word in self.filters:
            value = self.filters[spec.last_word]
            moment = parse_moment(value) if spec.past else None
            if (not spec.past or (moment and moment.date() <= self.today)) and self.schemas.fits(value, spec.schema):
                return value
        return MISSING

    def shown_setting(self, spec: FieldShape, place: _Place, record: Mapping[str, Any]) -> Any:
        """What a write's field shows of the call's settings: the new value (``new_name`` -> ``name``,
        ``destination`` -> ``directory``), a list with the added value (``tag`` -> ``tags``) or without
        the removed one, or a list of objects with the one the arguments describe (``share_file(user,
        access)`` -> ``shared_with``)."""
        known = record.get(spec.name, MISSING)
        if spec.kind == "array":
            items = self.schemas.resolve(spec.schema.get("items") or {})
            if json_kind(items) == "object":
                return self.with_described_item(spec, items, known, place)
        for argument, setter in self.setters.items():
            if not shows_setter(setter, spec.name):
                continue
            value = self.arguments[argument]
            if spec.kind == "array":
                base = known if isinstance(known, list) and self.schemas.fits(known, spec.schema) else self.value(spec.schema, spec.name, place)
                base = [item for item in base if item != value]
                shown: Any = base if self.taking_away else [*base, value]
            elif self.taking_away:
                continue
            else:
                shown = _placed(value, known) if "path" in name_words(spec.name) and shows_setter(setter, "path") else value
            if self.schemas.fits(shown, spec.schema):
                return shown
        return MISSING

    def with_described_item(self, spec: FieldShape, items: Mapping[str, Any], known: Any, place: _Place) -> Any:
        """A known list of objects with the item the write's arguments describe added, updated or removed."""
        if not isinstance(known, list) or not self.schemas.fits(known, spec.schema):
            return MISSING
        described = {f.name: self.arguments[f.name] for f in self.schemas.shape(items).fields if f.name in self.arguments and is_scalar(self.arguments[f.name])}
        if not described:
            return MISSING
        anchor = next((name for name in described if is_identifying(name)), next(iter(described)))
        others = [item for item in known if not (isinstance(item, dict) and item.get(anchor) == described[anchor])]
        if self.taking_away:
            shown = others
        else:
            fresh = self.object(items, context_of(spec.name), _Place(place.depth + 1, True, len(others)), {})
            shown = [*others, {**fresh, **described}]
        return shown if self.schemas.fits(shown, spec.schema) else MISSING

    def containing(self, part: Any, spec: FieldShape, place: _Place) -> Any:
        """A value for a list item that contains ``part`` as a word (a ``name_contains`` filter)."""
        drawn = str(self.leaf(spec.schema, spec.name, place, (), False))
        text = str(part)
        if _has_part(drawn, text):
            return drawn
        candidates = [f"{text}_{drawn}", f"{text}-{drawn}", f"{text} {drawn}", text]
        if " " in drawn and text.isalpha():  # a person's or product's name: the part is one of its words
            candidates.insert(0, f"{drawn.rsplit(' ', 1)[0]} {text.title()}")
        return next((c for c in candidates if self.schemas.fits(c, spec.schema)), MISSING)

    def action_mark(self, spec: FieldShape) -> Any:
        """What the action leaves on the object it acts on: its status and the date it happened."""
        assert self.action is not None
        status_word, stems = self.action
        if spec.status:
            if spec.schema.get("enum"):
                exact = [e for e in spec.schema["enum"] if isinstance(e, str) and e.lower() == status_word]
                if exact:
                    return exact[0]
                for stem in stems:
                    matches = [
                        e
                        for e in spec.schema["enum"]
                        if isinstance(e, str)
                        and not set(name_words(e)) & _NEGATIONS
                        and any(w.startswith(stem) for w in name_words(e))
                    ]
                    if matches:
                        return self.rng.choice(matches)
            else:  # free text: the word the session already uses for that state of such objects
                fitting = [v for noun in self.context for v in status_choices(noun)]  # an event is confirmed, not active
                seen = [v for v in self.state.pool.get(spec.name, ()) if isinstance(v, str)]
                said = next(
                    (v for pool in (fitting, seen) for stem in stems for v in pool if any(w.startswith(stem) for w in name_words(v)) and self.schemas.fits(v, spec.schema)),
                    None,
                )
                if said is not None:
                    return said
                if self.schemas.fits(status_word, spec.schema):
                    return status_word
        happened = (*stems, "creat") if self.creates else stems  # what this call did happened today
        if spec.past and any(w.startswith(stem) for w in name_words(spec.name) for stem in happened):
            drawn = self.values.value(spec.schema, spec.name)
            moment = parse_moment(drawn)
            if moment:
                stamped = _with_moment(drawn, datetime.combine(self.today, moment.time()))
                return stamped if self.schemas.fits(stamped, spec.schema) else MISSING
        return MISSING

    def array(self, schema: Mapping[str, Any], name: str, place: _Place) -> list[Any]:
        """At least one item where the schema allows (later calls consume items), at most the call's
        ``limit``; deep down only the required minimum, so recursive schemas end."""
        items = self.schemas.resolve(schema.get("items") or {})
        declared_low = int(schema.get("minItems", 0))
        declared_high = int(schema.get("maxItems", max(declared_low, 3)))
        shallow = place.depth < _OPTIONAL_DEPTH
        low = min(max(declared_low, 1 if shallow else 0), declared_high)
        high = max(low, declared_high) if shallow else low
        if self.item_limit:
            high = max(low, min(high, self.item_limit))
        count = self.rng.randint(low, high)
        if self.item_filters and json_kind(items) == "object" and self.names_one(items):
            count = max(low, min(count, 1))  # looking someone up by name or email finds them, not a crowd
        result: list[Any] = []
        if json_kind(items) == "object":
            taken: dict[str, list[Any]] = {}
            context = context_of(name)
            for position in range(count):
                result.append(self.object(items, context, _Place(place.depth + 1, True, position), taken))
            return self.with_created(result, schema, items, context, _Place(place.depth + 1, True, count), taken)
        inner = _Place(place.depth + 1, True)
        for _ in range(count):
            item = self.value(items, singular(name), inner, result)
            if not (schema.get("uniqueItems") and item in result):
                result.append(item)
        wanted = self.item_filters.get(tuple(singular(w) for w in name_words(name))) if place.in_list else None
        if wanted is not None and wanted[1] == "equal" and wanted[0] not in result and self.schemas.fits(wanted[0], items):
            result = [*result[: max(0, count - 1)], wanted[0]]  # an item listed under a tag carries the tag
        return result

    def with_created(
        self, result: list[Any], schema: Mapping[str, Any], items: Mapping[str, Any], context: Sequence[str], place: _Place, taken: dict[str, list[Any]]
    ) -> list[Any]:
        """The listed objects with those the session created that this read must show (see
        :func:`~digit_assets.engine.synthesis.simulation.must_list`), in place of drawn ones or added."""
        fields = {f.name: f.schema for f in self.schemas.shape(items).fields}
        key = own_key(list(fields), context)
        created = {ident for _, ident, _ in self.created}
        for noun, ident, known in self.created:
            if key is None or noun not in context or any(isinstance(item, dict) and str(item.get(key)) == ident for item in result):
                continue
            drawn = next((item for item in result if isinstance(item, dict) and str(item.get(key)) not in created), None)
            base = drawn if drawn is not None else self.object(items, context, place, taken)
            shown = {**base, key: known.get(key, ident)}
            shown.update({name: value for name, value in known.items() if name in fields and name != key and self.schemas.fits(value, fields[name])})
            if not self.schemas.fits(shown, items):
                continue
            if drawn is not None:
                result[result.index(drawn)] = shown
            elif len(result) < int(schema.get("maxItems", len(result) + 1)):
                result.append(shown)
        return result

    def names_one(self, items: Mapping[str, Any]) -> bool:
        """Whether a filter of this read names one object of the listed kind (its name or email)."""
        return any(
            (f.last_word,) in self.item_filters and f.identifying and self.item_filters[(f.last_word,)][1] == "equal"
            for f in self.schemas.shape(items).fields
        )

    def leaf(self, schema: Mapping[str, Any], name: str, place: _Place, used: Sequence[Any], reuse: bool) -> Any:
        """A scalar: within the call's range bounds, else reused from the history, else new."""
        if self.bounds:
            bounded = self.within_bounds(name, schema)
            if bounded is not MISSING:
                return bounded
        if reuse and name not in GENERIC_FIELDS and (not place.in_list or is_identifying(name)):
            candidates = [
                v
                for v in self.state.pool.get(name, ())
                if v not in used and self.schemas.fits(v, schema) and (not is_entity_key(name) or self.agrees(self.state.record_of(name, v)))
            ]
            if candidates:
                return self.rng.choice(candidates)
        known = self.state.pool.get(name, {}) if is_entity_key(name) else {}  # a new object gets a new id
        meaning = f"{place.noun}_{name}" if name in _NAMED_BY_OBJECT and place.noun else name
        value = self.values.value(schema, meaning)
        for _ in range(_RETRIES):
            if not is_placeholder(value) and value not in used and not (is_scalar(value) and value in known):
                break
            value = self.values.value(schema, meaning)
        return value

    def agrees(self, record: Mapping[str, Any]) -> bool:
        """Whether a known object fits this call: a list for one customer shows none of another's orders."""
        for name, value in record.items():
            if name in self.arguments and name not in self.bound_arguments and self.arguments[name] != value:
                return False
            wanted = self.item_filters.get(tuple(singular(w) for w in name_words(name)))
            if wanted is not None and not _meets(value, *wanted):
                return False
            words = name_words(name)
            for stem, (low, high) in self.bounds.items():
                if len(stem) <= len(words) and words[-len(stem) :] == stem and not _within(value, low, high):
                    return False
            last = name_words(name)[-1:]
            if last and last[0] in self.filters and name not in self.arguments and not is_past_field(name) and self.filters[last[0]] != value:
                return False
        return True

    def within_bounds(self, name: str, schema: Mapping[str, Any]) -> Any:
        words = name_words(name)
        for stem, (low, high) in self.bounds.items():
            if len(stem) > len(words) or words[-len(stem) :] != stem:
                continue
            if is_number(low if low is not None else high):
                drawn: Any = self._number_between(low, high, schema)
            else:
                drawn = self._moment_between(low, high, name, schema)
            if drawn is not MISSING and self.schemas.fits(drawn, schema):
                return drawn
        return MISSING

    def _number_between(self, low: Any, high: Any, schema: Mapping[str, Any]) -> Any:
        low = low if is_number(low) else 0
        high = high if is_number(high) else low * 2 + 10
        if json_kind(schema) == "integer":
            return self.rng.randint(math.ceil(low), math.floor(high)) if math.ceil(low) <= math.floor(high) else MISSING
        return round(self.rng.uniform(low, high), 2) if low <= high else MISSING

    def _moment_between(self, low: Any, high: Any, name: str, schema: Mapping[str, Any]) -> Any:
        start = parse_moment(low).date() if parse_moment(low) else None
        end = parse_moment(high).date() if parse_moment(high) else None
        start = start or (end - timedelta(days=30) if end else None)
        end = end or (start + timedelta(days=30) if start else None)
        if start is None or end is None:
            return MISSING
        if is_past_field(name):
            end = min(end, self.today)
        drawn = self.values.value(schema, name)
        moment = parse_moment(drawn)
        if moment is None or end < start:
            return MISSING
        day = start + timedelta(days=self.rng.randint(0, (end - start).days))
        return _with_moment(drawn, datetime.combine(day, moment.time()))

    # Repairs -----------------------------------------------------------------------------------

    def fit_refunds(self, obj: dict[str, Any], echoed: set[str]) -> None:
        """A refund is of a total the session knows: all of it when the call cancels or voids, else
        at most all of it."""
        limits = refund_limits(obj, self.state.record_of)
        if not limits:
            return
        limit = min(limits)
        whole = self.writes and tool_verb(self.tool) in WHOLE_REFUND_VERBS
        for name, value in obj.items():
            if name in echoed or not is_refund_field(name) or not is_number(value) or not (whole or value > limit + 0.005):
                continue
            amount = limit if whole else round(limit * self.rng.uniform(0.2, 1.0), 2)
            obj[name] = round(amount) if isinstance(value, int) else amount

    def repair(self, obj: dict[str, Any], shape: ObjectShape, echoed: set[str], kept: set[str] = frozenset()) -> None:
        """Make a generated object pass the judge's temporal and arithmetic rules; echoes stay put, and
        so do totals the session already showed (the new lines are priced to add up to them)."""
        for name in shape.past_fields:
            moment = parse_moment(obj.get(name))
            if moment and name not in echoed and moment.date() > self.today:
                past = datetime.combine(self.today - timedelta(days=self.rng.randint(1, 60)), moment.time())
                obj[name] = _with_moment(obj[name], past)
        if shape.may_misorder:
            for begin, end in misordered_pairs(obj):
                start, finish = parse_moment(obj[begin]), parse_moment(obj[end])
                if end not in echoed:
                    shift = self.rng.randint(0, max(0, (self.today - start.date()).days)) if is_past_field(end) else self.rng.randint(1, 14)
                    obj[end] = _with_moment(obj[end], start + timedelta(days=shift, hours=0 if shift else 1))
                elif begin not in echoed:
                    obj[begin] = _with_moment(obj[begin], finish - timedelta(days=self.rng.randint(1, 14)))
        properties = {f.name: f.schema for f in shape.fields}
        if shape.may_aggregate:
            for name, expected in expected_aggregates(obj).items():
                if name in kept and is_number(obj.get(name)) and abs(obj[name] - expected) > 0.005:
                    rescaled = rescaled_lines(obj, name, obj[name])
                    if rescaled is not None and all(self.schemas.fits(rescaled[f], properties.get(f, {})) for f in rescaled):
                        obj.update(rescaled)
                        continue
                candidate = round(expected) if json_kind(properties.get(name, {})) == "integer" else expected
                if name not in echoed and self.schemas.fits(candidate, properties.get(name, {})):
                    obj[name] = candidate
        if shape.may_count:
            for count_name, list_name in count_targets(obj):
                listed = len(obj[list_name])
                wrong = obj[count_name] < listed or (obj[count_name] != listed and exact_count(count_name, list_name, self.arguments, obj))
                if wrong and count_name not in echoed and self.schemas.fits(listed, properties.get(count_name, {})):
                    obj[count_name] = listed


def _meets(value: Any, wanted: Any, kind: str) -> bool:
    """Whether a known field value passes an item filter (a list passes when it holds the value)."""
    if isinstance(value, list):
        return wanted in value
    if not is_scalar(value):
        return True
    return _has_part(str(value), wanted) if kind == "part" else value == wanted


def _within(value: Any, low: Any, high: Any) -> bool:
    """Whether a known value lies inside a call's range (values of another kind are not judged)."""
    if is_number(value):
        return (not is_number(low) or value >= low) and (not is_number(high) or value <= high)
    moment = parse_moment(value)
    if moment is None:
        return True
    start, end = parse_moment(low), parse_moment(high)
    return (start is None or moment.date() >= start.date()) and (end is None or moment.date() <= end.date())


def _has_part(value: str, part: Any) -> bool:
    """``quarterly_report.pdf`` has the part ``report`` as a word of its own."""
    words = str(value).lower().replace("_", " ").replace("-", " ").replace(".", " ").split()
    return str(part).lower() in words or str(part).lower() == str(value).lower()


def _placed(destination: Any, known: Any) -> Any:
    """Where an object is after a move: its path keeps the object's own last segment."""
    if isinstance(known, str) and "/" in known:
        return f"{str(destination).rstrip('/')}/{known.rsplit('/', 1)[-1]}"
    return destination


def simulate_tool_offline(request: SimulateToolRequest, rng: random.Random) -> SimulateToolResponse:
    """The offline simulator of method step 6: a schema-shaped result consistent with the history."""
    return SimulateToolResponse(output=_Simulation(request, rng).run())

