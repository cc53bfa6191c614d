"""The offline back-translator (method.md step 5, role ``back_translate``): re-derive the plan from
the request alone. One cohesive idea, reading a request the way an assistant would, hence one
module longer than the others.

It is an honest reader. It sees what the assistant would see (the request, the conversation so
far, the tools and their data-flow links), never the plan the request was written from, and works
the way a careful assistant would:

1. read the values out of the text: quoted strings, dates, emails, ids, numbers, enum values;
2. find the goals: a verb ("cancel", "look up") followed by an object naming a tool's entity
   ("my order"), scored against every tool's name;
3. bind each value to the parameter its cue phrase names ("with the reason ..."), checked against
   the parameter's type, format and enum; a value only another tool takes brings that tool in;
4. chain backwards through the links: a required parameter the user did not give comes from a call
   already in the plan, from an earlier turn's output, or from a new lookup whose own inputs are
   available (this is how hidden calls are rediscovered).

It fails honestly: two tools or parameters equally plausible, a value it cannot bind, a required
parameter no producer can supply all leave the derived plan incomplete, and the method's
:func:`~digit_assets.engine.synthesis.verification.verification_problems` then rejects the turn.
"""

from __future__ import annotations

import heapq
import random
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from digit_assets.engine.lexicon import (
    ACTION_SYNONYMS,
    CURRENCY_WORDS,
    acting_phrase,
    VALUE_SHAPES,
    changes_state,
    cue_roles,
    is_entity_key,
    iso_of_spelled_date,
    parse_tool_name,
    read_boolean,
    singularize,
    spelled_counts,
    spoken_choice,
    value_roles,
    words_of,
)
from digit_assets.engine.synthesis.model import ExecutedCall, Link, PlannedCall, ToolView, parse_reference, resolve_path
from digit_assets.engine.synthesis.planning import plannable_field
from digit_assets.engine.synthesis.roles import BackTranslateRequest, BackTranslateResponse
from digit_assets.engine.synthesis.simulation import IdentityCache
from digit_assets.engine.synthesis.text import value_text

_NO_VALUE: Any = object()

# --- Reading values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    text: str
    kind: str  # a VALUE_SHAPES kind, "quoted" or "enum"


_QUOTED = re.compile(r'"(?P<double>[^"\n]+)"|(?<!\w)\'(?P<single>[^\'\n]+)\'(?!\w)')
# One pass over the shaped values: at each position the most specific pattern is tried first. The
# lead-in skips positions inside words and chunks with no digit, "@" or scheme (4x faster).
_SHAPED = re.compile(
    r"(?<![\w@.+/:-])(?=[\w.+-]*[\d@]|https?:|[A-Z][a-z]{2,8}\.?\s+\d)(?:"
    + "|".join(f"(?P<{kind}>{pattern.pattern})" for kind, pattern in VALUE_SHAPES)
    + ")"
)
_SERIES_GAP = re.compile(r"\s*(?:,|and|, and)\s*")
_BOUNDARIES = frozenset(".,;:!?()\u2014")
_TOKEN = re.compile(r"\x00+|[a-z]+(?:'[a-z]+)?|[.,;:!?()\u2014]", re.IGNORECASE)
_BLANK = "\x00"
_WORDS = re.compile(r"[a-z]+")
_GROUP = re.compile(r"\([^()]*\)")


@lru_cache(maxsize=1_024)
def _enum_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile(r"(?<![\w\x00-])(?:" + "|".join(map(re.escape, words)) + r")(?![\w\x00-])", re.IGNORECASE)


def read_values(text: str, enum_cues: Mapping[str, frozenset[str]] | None = None) -> tuple[list[_Span], str]:
    """The values in a request, in text order, and the text with each value blanked out.

    Quoted strings first, then shaped values (``VALUE_SHAPES``, most specific first), then bare
    enum words: ``enum_cues`` maps each (lower-case) to the words of the parameters it belongs to,
    and a bare word only counts as a value right after one of them ("the status shipped"), so
    prose ("send an email") stays prose. Each value found is blanked so later patterns skip it.
    """
    spans: list[_Span] = []
    masked = text
    enums = _enum_pattern(tuple(sorted(enum_cues or {}, key=lambda word: (-len(word), word))))
    for pattern in (_QUOTED, _SHAPED, enums):
        if pattern is None:
            continue
        for match in list(pattern.finditer(masked)):
            if pattern is _QUOTED:
                span = _Span(match.start(), match.end(), match.group("double") or match.group("single"), "quoted")
            elif pattern is _SHAPED and match.lastgroup == "spelled_date":  # "May 3, 2026" is 2026-05-03
                iso = iso_of_spelled_date(match.group(0))
                if iso is None:
                    continue
                span = _Span(match.start(), match.end(), iso, "date")
            elif pattern is _SHAPED:
                span = _Span(match.start(), match.end(), match.group(0), match.lastgroup or "")
            else:
                preceding = _WORDS.findall(masked[max(0, match.start() - 40) : match.start()].lower())[-3:]
                if not {_word(word) for word in preceding} & enum_cues[match.group(0).lower()]:
                    continue
                span = _Span(match.start(), match.end(), match.group(0), "enum")
            spans.append(span)
            masked = masked[: span.start] + _BLANK * (span.end - span.start) + masked[span.end :]
    for start, end, number in spelled_counts(masked):  # "only the five newest": a count of 5
        spans.append(_Span(start, end, str(number), "number"))
        masked = masked[:start] + _BLANK * (end - start) + masked[end:]
    return sorted(spans, key=lambda span: span.start), masked


def _is_boundary(token: str) -> bool:
    """Punctuation, or a value (a run of blanks): where a cue or an object ends."""
    return token[0] == _BLANK or token in _BOUNDARIES


def _word(token: str) -> str:
    """``orders`` / ``order's`` -> ``order``: the form names are compared in."""
    return singularize(token.removesuffix("'s"))


# --- Tools as a reader sees them -------------------------------------------------------------------

# Words that end the object of a goal verb ("cancel my order with ..."): what follows is not the object.
_OBJECT_STOPS = frozenset(
    "with for from where using whose to on at by in that which who and then also please as after first "
    "finally because so if into via about is are".split()
)
# Words that open a value's cue phrase ("for the email ..."): what comes before them is about something else.
# Prepositions that also occur inside parameter names ("check in", "sort by") are not among them.
_CUE_OPENERS = frozenset("for with where using whose and then please that which".split())
_DETERMINERS = frozenset("my the a an that same all new this these those our your some one its their".split())
_FORMAT_KINDS = {"date": "date", "date-time": "datetime", "email": "email", "uri": "url", "url": "url", "time": "time"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_BARE_ENUM = re.compile(r"[A-Za-z][\w-]{2,}")
# Shapes a value is recognized by without any cue: enough to bind it to a parameter expecting that shape.
_STRONG_KINDS = frozenset({"datetime", "date", "email", "url", "time", "id", "record"})


def _options(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The alternatives a value may match: ``anyOf``/``oneOf`` branches or the schema itself."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    return [branch for branch in branches if isinstance(branch, Mapping)] if branches else [schema]


def _types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, list):
        return [kind for kind in declared if kind != "null"]
    return [declared] if isinstance(declared, str) else []


def _expected_kind(param: str, schema: Mapping[str, Any]) -> str | None:
    """The value shape a parameter asks for, from its format or its name."""
    if schema.get("format") in _FORMAT_KINDS:
        return _FORMAT_KINDS[schema["format"]]
    words = [singularize(word) for word in words_of(param)]
    if words and words[-1] == "date":
        return "date"
    if "email" in words:
        return "email"
    if is_entity_key(param):
        return "id"
    types = _types(schema)
    return "number" if "integer" in types or "number" in types else None


@dataclass(frozen=True)
class _Param:
    name: str
    schema: Mapping[str, Any]
    words: tuple[str, ...]  # the name's words as text is compared
    spelled: tuple[str, ...]  # the name's words as written
    kind: str | None
    has_enum: bool
    is_array: bool
    is_boolean: bool
    record: Mapping[str, Any] | None  # the object schema, for an object or an array of objects
    roles: frozenset[str]  # what its value is to a person (a place, a start date, a maximum ...)


def _record_schema(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    items = schema.get("items")
    candidate = items if schema.get("type") == "array" and isinstance(items, Mapping) else schema
    return candidate if candidate.get("type") == "object" and isinstance(candidate.get("properties"), Mapping) else None


@dataclass(frozen=True)
class _ToolReading:
    """A tool as a reader sees it: how it is asked for, what it is about, what its parameters take."""

    tool: ToolView
    verbs: Mapping[tuple[str, ...], int]  # verb phrase -> 2 for the tool's own verb, 1 for a stand-in
    entity: frozenset[str]
    view: frozenset[str]
    params: Mapping[str, _Param]
    required: tuple[str, ...]
    alternatives: tuple[tuple[str, ...], ...]  # top-level anyOf/oneOf: one of these sets is required too
    enum_cues: tuple[tuple[str, tuple[str, ...]], ...]  # (enum word, the words of its parameter's name)
    name_words: frozenset[str]
    reads_only: bool  # a lookup: the reader may call it unasked to discover a value


def _read_tool(tool: ToolView) -> _ToolReading:
    name = parse_tool_name(tool.name)
    verbs: dict[tuple[str, ...], int] = {tuple(phrase.split()): 1 for phrase in ACTION_SYNONYMS.get(name.action, ())}
    if name.verb:
        verbs[(name.verb,)] = 2
    acting = acting_phrase(tool.name) if not tool.read_only and name.verb is None else None
    if acting is not None:  # "reply to my ticket" asks for reply_to_ticket: the ticket is its object
        verbs[(acting[0], acting[1])] = 2
    params = {}
    enum_cues = []
    for param, schema in tool.parameters.get("properties", {}).items():
        options = _options(schema)
        types = {kind for option in options for kind in _types(option)}
        params[param] = _Param(
            name=param,
            schema=schema,
            words=tuple(_word(word) for word in words_of(param)),
            spelled=tuple(words_of(param)),
            kind=_expected_kind(param, schema),
            has_enum=any("enum" in option for option in options),
            is_array="array" in types,
            is_boolean=types == {"boolean"},
            record=_record_schema(schema),
            roles=frozenset(value_roles(words_of(param))),
        )
        enum_cues += [
            (spelling, params[param].words)
            for option in options
            for item in option.get("enum", ())
            if isinstance(item, str) and _BARE_ENUM.fullmatch(item)
            for spelling in {item.lower(), spoken_choice(item).lower()}
        ]
    required = tuple(param for param in tool.parameters.get("required", ()) if param in params)
    branches = tool.parameters.get("anyOf") or tool.parameters.get("oneOf") or []
    alternatives = tuple(
        tuple(branch["required"])
        for branch in branches
        if isinstance(branch, Mapping) and branch.get("required") and set(branch["required"]) <= set(params)
    )
    return _ToolReading(
        tool=tool,
        verbs=verbs,
        entity=frozenset(acting[2] if acting else name.entity),
        view=frozenset(_word(w) for w in name.view),
        params=params,
        required=required,
        alternatives=alternatives,
        enum_cues=tuple(enum_cues),
        name_words=frozenset(words_of(tool.name)),
        reads_only=not changes_state(tool.name),
    )


_READINGS = IdentityCache(8_192)


def _reading(tool: ToolView) -> _ToolReading:
    found = _READINGS.get(tool)
    return found if isinstance(found, _ToolReading) else _READINGS.put(_read_tool(tool), tool)


_LINK_PATHS = IdentityCache(16_384)


def _link_path(link: Link, producer: ToolView, consumer: ToolView) -> str | None:
    """The reference path a plan may use for this link (see ``planning.plannable_field``), cached by
    the link's identity as long as it joins the same two tool objects."""
    found = _LINK_PATHS.get(link)
    if not (isinstance(found, tuple) and found[0] is producer and found[1] is consumer):
        produced = plannable_field(link, producer, consumer)
        found = _LINK_PATHS.put((producer, consumer, produced.path if produced else None), link)
    return found[2]


# --- Values for parameters ---------------------------------------------------------------------------


def coerce(text: str, schema: Mapping[str, Any]) -> Any:
    """``text`` as a valid value of a scalar ``schema`` (``"3"`` -> 3 for an integer), or ``_NO_VALUE``."""
    for option in _options(schema):
        value = _coerce_option(text, option)
        if value is not _NO_VALUE:
            return value
    return _NO_VALUE


def _coerce_option(text: str, schema: Mapping[str, Any]) -> Any:
    if "enum" in schema:  # a choice as said ("in transit") or as stored ("in_transit")
        said = spoken_choice(text).lower()
        return next((item for item in schema["enum"] if spoken_choice(value_text(item)).lower() == said), _NO_VALUE)
    types = _types(schema) or ["string"]
    if "integer" in types and _INTEGER.match(text):
        value: Any = int(text)
    elif "number" in types and _NUMBER.match(text):
        value = int(text) if _INTEGER.match(text) else float(text)
    elif "string" in types and _string_fits(text, schema):
        return text
    else:
        return _NO_VALUE
    return value if _within_bounds(value, schema) else _NO_VALUE


def _string_fits(text: str, schema: Mapping[str, Any]) -> bool:
    fmt = schema.get("format")
    if (fmt == "date" and not _ISO_DATE.match(text)) or (fmt == "date-time" and not _ISO_DATETIME.match(text)):
        return False
    if (fmt == "email" and "@" not in text) or (fmt in ("uri", "url") and not text.startswith(("http://", "https://"))):
        return False
    if not int(schema.get("minLength", 0)) <= len(text) <= int(schema.get("maxLength", len(text))):
        return False
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            return re.search(pattern, text) is not None
        except re.error:
            return True
    return True


def _within_bounds(value: float, schema: Mapping[str, Any]) -> bool:
    checks = (
        ("minimum", lambda bound: value >= bound),
        ("maximum", lambda bound: value <= bound),
        ("exclusiveMinimum", lambda bound: value > bound),
        ("exclusiveMaximum", lambda bound: value < bound),
    )
    return all(check(schema[key]) for key, check in checks if isinstance(schema.get(key), (int, float)))


_Record = list[tuple[list[str], list[str]]]  # a parenthesized group: (cue words, value texts) per field


def _fit_records(records: Sequence[_Record], param: _Param) -> Any:
    """Groups like "(product id P1, quantity 2)" as objects of the parameter's record schema, each
    field named by its cue; several groups only fit an array of objects."""
    schema = param.record
    if schema is None or (len(records) > 1 and not param.is_array):
        return _NO_VALUE
    properties: Mapping[str, Mapping[str, Any]] = schema["properties"]
    names = {name: [_word(word) for word in words_of(name)] for name in properties}
    objects = []
    for record in records:
        obj: dict[str, Any] = {}
        for cue, texts in record:
            scored = sorted(((sum(w in cue for w in words), name) for name, words in names.items()), reverse=True)
            if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
                return _NO_VALUE
            name = scored[0][1]
            value = _fit_schema(texts, properties[name])
            if value is _NO_VALUE:
                return _NO_VALUE
            obj[name] = value
        if any(name not in obj for name in schema.get("required", ())):
            return _NO_VALUE
        objects.append(obj)
    return objects if param.is_array else objects[0]


def _fit_schema(texts: Sequence[str], schema: Mapping[str, Any]) -> Any:
    """Value texts as a value of ``schema``: a series only fits an array, one value a scalar or array."""
    if any("array" in _types(option) for option in _options(schema)):
        items = schema.get("items")
        values = [coerce(text, items if isinstance(items, Mapping) else {}) for text in texts]
        return _NO_VALUE if any(value is _NO_VALUE for value in values) else values
    return coerce(texts[0], schema) if len(texts) == 1 else _NO_VALUE


# --- Mentions: values with their cue words -----------------------------------------------------------


@dataclass
class _Mention:
    """A value of the request (several for a series) and the words that say what it is."""

    spans: list[_Span]
    at: int  # token position
    cue: list[str]  # the words naming it, nearest first, as written (lower case)
    records: list[_Record] = field(default_factory=list)  # set for parenthesized groups of fields
    lead: list[str] = field(default_factory=list)  # the words right before it, in text order ("at least")
    unit: str = ""  # the noun right after a number ("500 bytes"), as names are compared
    slots: list[tuple[str, str, Any]] = field(default_factory=list)  # best (tool, param, value) bindings
    near: list[tuple[str, str, Any]] = field(default_factory=list)  # nearly as good, best first: for its clause's goal
    problem: str = ""
    bound: bool = False
    forms: list[str] = field(init=False)  # the cue as names are compared

    def __post_init__(self) -> None:
        self.forms = [_word(word) for word in self.cue]

    @property
    def text(self) -> str:
        return ", ".join(span.text for span in self.spans)

    @property
    def kind(self) -> str:
        return "record" if self.records else self.spans[0].kind

    def fit(self, param: _Param) -> Any:
        """This mention as a value of the parameter, or ``_NO_VALUE``."""
        if self.records:
            return _fit_records(self.records, param)
        return _NO_VALUE if param.record is not None else _fit_schema([span.text for span in self.spans], param.schema)

    def score(self, param: _Param) -> float | None:
        """How well the cue and the value's shape name this parameter; None when nothing points to it."""
        hits = [self.forms.index(word) for word in param.words if word in self.forms]
        kind = self.kind
        if kind == "enum" and not (param.has_enum and hits):
            return None  # a bare word is only a value of an enum its cue names ("status shipped")
        shape_match = (param.kind is not None and param.kind == kind) or (kind == "record" and param.record is not None)
        if param.kind in _STRONG_KINDS and kind in _STRONG_KINDS and kind not in (param.kind, "record"):
            return None  # a date is no email, an email no id
        roles = len(set(cue_roles(self.lead)) & param.roles)  # "in Lisbon" is a place, "from May 3" a start
        unit = 1 if self.unit and (self.unit in param.words or self.unit in CURRENCY_WORDS and "money" in param.roles) else 0
        if not hits and not roles and not unit and not param.has_enum and not (shape_match and kind in _STRONG_KINDS):
            return None
        score = len(hits) + (1 if hits and len(hits) == len(param.words) else 0) + 1.5 * roles + 2 * unit
        score -= 0.5 if param.roles and not roles and not hits else 0  # a plain "on May 3" is the date, not the end date
        score += (1 if shape_match else 0) + (2 if param.has_enum else 0)  # the value fitted: it is a member
        score += 0.5 if hits and all(word in self.cue for word in param.spelled) else 0  # "notes", not "note"
        return score - 0.01 * (min(hits) if hits else len(self.cue))


# --- The derivation ----------------------------------------------------------------------------------


@dataclass(eq=False)
class _Call:
    reading: _ToolReading
    goal: bool
    arguments: dict[str, Any] = field(default_factory=dict)  # literals, _Use, or "$k.path" of an earlier turn
    clause: range = range(0)  # the tokens of the goal's clause, from its verb on
    referents: frozenset[str] = frozenset()  # nouns the clause points back to ("that order")

    def refers_to(self, param: _Param) -> bool:
        """Whether the clause points back to this parameter's object ("that order" for order_id)."""
        words = param.words[:-1] if len(param.words) > 1 and param.words[-1] in _KEY_WORDS else param.words
        return " ".join(words) in self.referents

    @property
    def name(self) -> str:
        return self.reading.tool.name


@dataclass(frozen=True, eq=False)
class _Use:
    producer: _Call
    path: str


_MAX_LOOKUP_DEPTH = 3
# How much worse a parameter of the goal whose clause holds a value may score and still take it:
# "add an attendee for ana@x.org" is the attendee to add, though another tool lists attendees too.
_NEAR = 1.6
_KEY_WORDS = frozenset({"id", "number", "code", "reference"})
_IDENTITY_KINDS = frozenset({"id", "email"})
_SENTENCE_ENDS = frozenset(".!?")


class _Derivation:
    """One reading of one request; ``problems`` says where it could not decide."""

    def __init__(self, request: BackTranslateRequest):
        self.request = request
        self.readings = {tool.name: _reading(tool) for tool in request.tools}
        self.paths: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (consumer, param) -> [(producer, path)]
        by_name = {tool.name: tool for tool in request.tools}
        for link in request.links:
            producer, consumer = by_name.get(link.src_tool), by_name.get(link.dst_tool)
            if producer is not None and consumer is not None and producer is not consumer:
                path = _link_path(link, producer, consumer)
                if path is not None:
                    self.paths.setdefault((link.dst_tool, link.dst_param), []).append((link.src_tool, path))
        self.earlier = [call for call in request.earlier_calls if call.error is None and call.output is not None]
        self.calls: list[_Call] = []
        self.problems: list[str] = []
        spans, masked = read_values(request.request, self._enum_cues())
        matches = list(_TOKEN.finditer(masked))
        self.tokens = [match.group(0).lower() for match in matches]  # words lower-cased, values as blanks
        self.starts = [match.start() for match in matches]
        self.mentions = self._mentions(spans, masked)

    # -- reading --

    def _enum_cues(self) -> dict[str, frozenset[str]]:
        """Enum values a user may write bare, with the words that announce them; words of tool names
        are left out, they read as goals."""
        name_words = {word for reading in self.readings.values() for word in reading.name_words}
        cues: dict[str, set[str]] = {}
        for reading in self.readings.values():
            for word, param_words in reading.enum_cues:
                if word not in name_words and word not in _OBJECT_STOPS:
                    cues.setdefault(word, set()).update(param_words)
        return {word: frozenset(words) for word, words in cues.items()}

    def _mentions(self, spans: list[_Span], masked: str) -> list[_Mention]:
        text = self.request.request
        mentions: list[_Mention] = []
        grouped, inside = self._record_mentions(spans, masked)
        for span in spans:
            if span.start in inside:
                continue
            index = bisect_right(self.starts, span.start) - 1  # the blank token holding the span
            after = self._cue_after(index)
            previous = mentions[-1] if mentions else None
            same_kind = previous is not None and previous.spans[-1].kind == span.kind  # "a, b": one series
            if previous and same_kind and not after and _SERIES_GAP.fullmatch(text[previous.spans[-1].end : span.start]):
                previous.spans.append(span)
            else:
                lead, unit = self._surroundings(index, span)
                mentions.append(_Mention([span], index, after or self._cue_before(index), lead=lead, unit=unit))
        return sorted([*mentions, *grouped], key=lambda mention: mention.spans[0].start)

    def _record_mentions(self, spans: list[_Span], masked: str) -> tuple[list[_Mention], set[int]]:
        """Parenthesized groups of named fields, "(product id P1, quantity 2)", as record mentions
        (consecutive groups in a series make one list), and the starts of the spans they hold."""
        mentions: list[_Mention] = []
        inside: set[int] = set()
        if not any(param.record for reading in self.readings.values() for param in reading.params.values()):
            return mentions, inside  # no tool takes objects: parentheses are only prose
        previous_end = -1
        for group in _GROUP.finditer(masked):
            held = [span for span in spans if group.start() < span.start and span.end < group.end()]
            if not held:
                continue
            record: _Record = []
            cursor = group.start() + 1
            for span in held:
                words = _WORDS.findall(masked[cursor : span.start].lower())
                cue = [_word(word) for word in words if word not in ("and", "the")]
                if cue or not record:
                    record.append((cue, [span.text]))
                else:  # a series inside a field: "tags a, b"
                    record[-1][1].append(span.text)
                cursor = span.end
                inside.add(span.start)
            if mentions and _SERIES_GAP.fullmatch(masked[previous_end : group.start()]):
                mentions[-1].records.append(record)
                mentions[-1].spans += held
            else:
                index = bisect_right(self.starts, group.start()) - 1  # the "(" token
                mentions.append(_Mention(list(held), index, self._cue_before(index), records=[record]))
            previous_end = group.end()
        return mentions, inside

    def _surroundings(self, index: int, span: _Span) -> tuple[list[str], str]:
        """The words just before a value, in text order, back to punctuation (a currency sign counts
        as a word), and the noun after a number ("500 bytes")."""
        lead: list[str] = []
        for token in reversed(self.tokens[max(0, index - 3) : index]):
            if _is_boundary(token):
                break
            lead.insert(0, token)
        if self.request.request[max(0, span.start - 1) : span.start] == "$":
            lead.append("$")
        following = self.tokens[index + 1 : index + 2]
        unit = _word(following[0]) if span.kind == "number" and following and not _is_boundary(following[0]) else ""
        return lead, unit

    def _cue_before(self, index: int) -> list[str]:
        """The words naming a value, back to the word that opens its phrase ("for the check in ...")."""
        cue: list[str] = []
        for token in reversed(self.tokens[max(0, index - 4) : index]):
            if _is_boundary(token) or token in _CUE_OPENERS:
                break
            cue.append(token.removesuffix("'s"))
        return cue

    def _cue_after(self, index: int) -> list[str]:
        """``"..." as the subject``: a cue after the value, which then names it alone."""
        following = self.tokens[index + 1 : index + 6]
        if not following or following[0] != "as":
            return []
        cue: list[str] = []
        for token in following[1:]:
            if _is_boundary(token) or token in _CUE_OPENERS or len(cue) == 3:
                break
            if token not in _DETERMINERS:
                cue.append(token.removesuffix("'s"))
        return cue

    def goals(self) -> list[tuple[_ToolReading, int]]:
        """Tools the request asks for, with the position of their verb: each verb with the object after
        it, the best-named tool wins."""
        askers: dict[tuple[str, ...], list[tuple[_ToolReading, int]]] = {}
        for reading in self.readings.values():
            for phrase, strength in reading.verbs.items():
                askers.setdefault(phrase, []).append((reading, strength))
        by_first_word: dict[str, list[tuple[str, ...]]] = {}
        for phrase in sorted(askers, key=len, reverse=True):
            by_first_word.setdefault(phrase[0], []).append(phrase)
        tokens = self.tokens
        found: dict[str, tuple[_ToolReading, int]] = {}
        index = 0
        while index < len(tokens):
            phrases = by_first_word.get(tokens[index])
            phrase = next((p for p in phrases if tuple(tokens[index : index + len(p)]) == p), None) if phrases else None
            if phrase is None:
                index += 1
                continue
            winner = self._goal_for(phrase, askers[phrase], self._object_at(index + len(phrase)))
            if winner is not None and winner.tool.name not in found:
                found[winner.tool.name] = (winner, index)
            index += len(phrase)
        return list(found.values())

    def _clauses(self, starts: list[int]) -> list[range]:
        """Each goal's clause: from its verb to the next goal's verb or the end of the sentence."""
        clauses = []
        for rank, start in enumerate(starts):
            end = starts[rank + 1] if rank + 1 < len(starts) else len(self.tokens)
            end = next((i for i in range(start, end) if self.tokens[i] in _SENTENCE_ENDS), end)
            clauses.append(range(start, end))
        return clauses

    def _referents(self, clause: range) -> frozenset[str]:
        """The nouns a clause points back to: "that order", "the same customer"."""
        tokens = self.tokens
        return frozenset(
            _word(tokens[i + 1])
            for i in clause
            if tokens[i] in ("that", "same") and i + 1 < len(tokens) and not _is_boundary(tokens[i + 1])
        )

    def _goal_for(
        self, phrase: tuple[str, ...], candidates: list[tuple[_ToolReading, int]], obj: frozenset[str]
    ) -> _ToolReading | None:
        """The tool a verb and its object ask for: all entity words present, view words counted."""
        scored = [
            (strength + len(reading.entity) + len(reading.view & obj) - len(reading.view - obj), reading)
            for reading, strength in candidates
            if reading.entity <= obj
        ]
        if not scored:
            return None
        best = max(score for score, _ in scored)
        winners = [reading for score, reading in scored if score == best]
        if len(winners) > 1:
            names = " and ".join(sorted(reading.tool.name for reading in winners))
            self.problems.append(f"'{' '.join(phrase)}' fits {names} equally well")
            return None
        return winners[0]

    def _object_at(self, index: int) -> frozenset[str]:
        """The words after a verb up to the next value, punctuation or linking word ("my order")."""
        words: set[str] = set()
        previous = ""
        for token in self.tokens[index : index + 8]:
            if token in _DETERMINERS and (not words or previous == "of"):  # "that order", "the status of that ticket"
                previous = token
                continue
            previous = token
            if _is_boundary(token) or token in _OBJECT_STOPS:
                break
            if token not in _DETERMINERS:
                words.add(_word(token))
        return frozenset(words)

    def bind_candidates(self) -> None:
        """Every mention's best (tool, parameter) bindings; a tie between two parameters of one tool
        is ambiguity (a tie across tools is settled by which tool the plan calls)."""
        for mention in self.mentions:
            scored: list[tuple[float, str, str, Any]] = []
            for name, reading in self.readings.items():
                for param in reading.params.values():
                    score = mention.score(param)
                    if score is None:
                        continue
                    value = mention.fit(param)
                    if value is not _NO_VALUE:
                        scored.append((score, name, param.name, value))
            if not scored:
                mention.problem = f"no parameter takes {mention.text!r}"
                continue
            best = max(score for score, *_ in scored)
            slots = [(name, param, value) for score, name, param, value in scored if score == best]
            by_tool: dict[str, set[str]] = {}
            for name, param, _ in slots:
                by_tool.setdefault(name, set()).add(param)
            clash = next((sorted(params) for params in by_tool.values() if len(params) > 1), None)
            if clash:
                mention.problem = f"{mention.text!r} fits the parameters {', '.join(clash)} equally well"
            else:
                mention.slots = slots
                ranked = sorted((entry for entry in scored if entry[0] >= best - _NEAR), key=lambda entry: -entry[0])
                mention.near = [(name, param, value) for _, name, param, value in ranked]

    # -- planning --

    def derive(self) -> list[PlannedCall]:
        goals = self.goals()
        for (reading, _), clause in zip(goals, self._clauses([start for _, start in goals])):
            self.calls.append(_Call(reading, goal=True, clause=clause, referents=self._referents(clause)))
        self.bind_candidates()
        self._bind_unbound()
        for mention in self._unbound():  # a value only one tool takes brings that tool in
            tools = {name for name, _, _ in mention.slots}
            if len(tools) == 1:
                self._bind(mention, self._call_for(tools.pop()))
        self._bind_unbound()  # values several tools take may belong to the tools just brought in
        self._chain()
        self._bind_deferred()
        self._fill_referents()
        self._reference_echoes()
        self._connect_components()
        self._set_switches()
        for mention in self.mentions:
            if mention.problem:
                self.problems.append(mention.problem)
            elif not mention.bound:
                self.problems.append(f"{mention.text!r} could not be bound to a call")
        return self._planned_calls()

    def _call_for(self, tool_name: str) -> _Call:
        existing = next((call for call in self.calls if call.name == tool_name), None)
        if existing is not None:
            return existing
        call = _Call(self.readings[tool_name], goal=False)
        self.calls.append(call)
        return call

    def _bind(self, mention: _Mention, call: _Call, *, near: bool = False) -> bool:
        for name, param, value in mention.near if near else mention.slots:
            if name == call.name and param not in call.arguments:
                call.arguments[param] = value
                mention.bound = True
                return True
        return False

    def _bind_first(self, mention: _Mention) -> bool:
        """A value goes to the first planned call that takes it; others may reuse it as a fact."""
        return any(self._bind(mention, call) for call in self.calls)

    def _bind_unbound(self) -> None:
        """Values go to the goal whose clause they are in first, the rest to the first call taking them."""
        for mention in self._unbound():
            host = next((call for call in self.calls if mention.at in call.clause), None)
            if host is not None:
                self._bind(mention, host, near=True)
        for mention in self._unbound():
            self._bind_first(mention)

    def _may_bring_in(self, tool_name: str) -> bool:
        """Lookups may be called unasked to discover a value; an action only for a value the user gave
        that nothing else takes (the reader never takes an action the user did not ask for)."""
        return self.readings[tool_name].reads_only or any(
            name == tool_name for mention in self._unbound() for name, _, _ in mention.slots
        )

    def _unbound(self) -> list[_Mention]:
        return [m for m in self.mentions if not m.problem and m.slots and not m.bound]

    def _fact(self, tool_name: str, param: str) -> Any:
        """The one value the user gave for this parameter, else ``_NO_VALUE``. An identity (an id, an
        email) is a fact about its object that every call may use; other values belong to one call."""
        shared = self.readings[tool_name].params[param].kind in _IDENTITY_KINDS
        values = {
            value_text(value): (mention, value)
            for mention in self.mentions
            if not mention.problem and (shared or not mention.bound)
            for name, p, value in mention.slots
            if name == tool_name and p == param
        }
        if len(values) != 1:
            return _NO_VALUE
        mention, value = next(iter(values.values()))
        mention.bound = True
        return value

    def _has_fact(self, tool_name: str, param: str) -> bool:
        shared = self.readings[tool_name].params[param].kind in _IDENTITY_KINDS
        return any(
            name == tool_name and p == param
            for m in self.mentions
            if not m.problem and (shared or not m.bound)
            for name, p, _ in m.slots
        )

    def _chain(self) -> None:
        """Fill required parameters until nothing changes: from the user's values, else from a producer
        (a planned call, an earlier turn's output, or a new lookup, which joins the plan)."""
        progress = True
        while progress:
            progress = False
            for call in list(self.calls):
                for param in call.reading.required:
                    if param not in call.arguments and self._fill(call, param):
                        progress = True
                progress = self._fill_alternative(call) or progress

    def _fill_referents(self) -> None:
        """An optional parameter the clause points back to ("list the tickets for that customer")."""
        for call in self.calls:
            for param in call.reading.params.values():
                if param.name not in call.arguments and call.refers_to(param):
                    self._fill_from_output(call, param.name, self.paths.get((call.name, param.name), []))

    def _fill_alternative(self, call: _Call) -> bool:
        """For ``anyOf: [{required: [name]}, {required: [email]}]``: the first set that can be filled."""
        alternatives = call.reading.alternatives
        if not alternatives or any(all(param in call.arguments for param in alt) for alt in alternatives):
            return False
        for alternative in alternatives:
            if all(param in call.arguments or self._fill(call, param) for param in alternative):
                return True
        return False

    def _fill(self, call: _Call, param: str) -> bool:
        """A value the user gave, else a producer's output; "that order" looks at outputs first."""
        sources = self.paths.get((call.name, param), [])
        if call.refers_to(call.reading.params[param]) and self._fill_from_output(call, param, sources):
            return True
        fact = self._fact(call.name, param)
        if fact is not _NO_VALUE:
            call.arguments[param] = fact
            return True
        return self._fill_from_output(call, param, sources) or self._fill_by_lookup(call, param, sources)

    def _fill_from_output(self, call: _Call, param: str, sources: Sequence[tuple[str, str]]) -> bool:
        """From a planned call before it, else from an earlier turn's output."""
        position = self.calls.index(call)
        planned = [  # a goal feeds only the goals after it: "look it up, then cancel it"
            (path.count("["), index, producer, path)
            for source, path in sources
            for index, producer in enumerate(self.calls)
            if producer.name == source
            and producer is not call
            and (not producer.goal or index < position)
            and not self._depends(producer, call)
        ]
        if planned:
            _, _, producer, path = min(planned, key=lambda option: option[:2])
            call.arguments[param] = _Use(producer, path)
            return True
        earlier = self._earlier_source(sources)
        if earlier:
            call.arguments[param] = earlier
            return True
        return False

    def _fill_by_lookup(self, call: _Call, param: str, sources: Sequence[tuple[str, str]]) -> bool:
        """A new call whose output holds the value: the cheapest lookup, if exactly one is cheapest."""
        costs: dict[str, tuple[float, str]] = {}
        planned_tools = {c.name for c in self.calls}
        for source, path in sources:
            if source in planned_tools or not self._may_bring_in(source):
                continue
            cost = self._lookup_cost(source, 1, frozenset({call.name}))
            if cost is not None and (source not in costs or cost < costs[source][0]):
                costs[source] = (cost, path)
        if not costs:
            return False
        cheapest = min(cost for cost, _ in costs.values())
        tied = sorted(name for name, (cost, _) in costs.items() if cost == cheapest)
        if len(tied) > 1:
            self.problems.append(f"{param} of {call.name} could come from {' or '.join(tied)} equally well")
            return False
        producer = self._call_for(tied[0])
        for mention in self._unbound():
            self._bind(mention, producer)
        call.arguments[param] = _Use(producer, costs[tied[0]][1])
        return True

    def _earlier_source(self, sources: Sequence[tuple[str, str]]) -> str | None:
        """``$k.path`` into an earlier output holding a linked field. The turn is about one earlier
        result: prefer the output the plan already draws on, then the one that could feed the most
        of what the plan still lacks, then the most recent."""
        if not self.earlier:
            return None
        drawn_on = {
            value.split(".", 1)[0] for call in self.calls for value in call.arguments.values() if parse_reference(value)
        }
        options = [
            (
                executed.ref in drawn_on,
                self._earlier_coverage(executed),
                position,
                -path.count("["),
                f"{executed.ref}.{path}",
            )
            for position, executed in enumerate(self.earlier)
            for source, path in sources
            if executed.tool == source and _holds(executed, path)
        ]
        return max(options)[-1] if options else None

    def _earlier_coverage(self, executed: ExecutedCall) -> int:
        """How many missing required parameters of the plan this earlier output could supply."""
        return sum(
            1
            for call in self.calls
            for param in call.reading.required
            if param not in call.arguments
            and any(
                source == executed.tool and _holds(executed, path)
                for source, path in self.paths.get((call.name, param), [])
            )
        )

    def _lookup_cost(self, tool_name: str, depth: int, visiting: frozenset[str]) -> float | None:
        """New calls a lookup of ``tool_name`` needs (itself included), less half a call per user
        value it takes; None when some required input has no source."""
        if depth > _MAX_LOOKUP_DEPTH:
            return None
        reading = self.readings[tool_name]
        cost = 1.0
        planned_tools = {call.name for call in self.calls}
        for param in reading.required:
            if self._has_fact(tool_name, param):
                cost -= 0.5
                continue
            if self._switch(reading.params[param]) is not None:
                continue
            sources = self.paths.get((tool_name, param), [])
            if any(source in planned_tools for source, _ in sources) or self._earlier_source(sources):
                continue
            deeper = [
                self._lookup_cost(source, depth + 1, visiting | {tool_name})
                for source, _ in sources
                if source not in visiting and source != tool_name and self._may_bring_in(source)
            ]
            known = [c for c in deeper if c is not None]
            if not known:
                return None
            cost += min(known)
        return cost

    def _depends(self, call: _Call, on: _Call) -> bool:
        """Whether ``call`` takes, directly or through others, an output of ``on``."""
        stack, seen = [call], set()
        while stack:
            current = stack.pop()
            if current is on:
                return True
            if id(current) not in seen:
                seen.add(id(current))
                stack += [value.producer for value in current.arguments.values() if isinstance(value, _Use)]
        return False

    def _bind_deferred(self) -> None:
        """A value several lookups could take goes to the one among them whose output the plan still lacks."""
        for mention in self._unbound():
            if mention.bound or self._bind_first(mention):
                continue
            lacking = {
                (call.name, param) for call in self.calls for param in call.reading.params if param not in call.arguments
            }
            feeding = sorted(
                {
                    name
                    for name, _, _ in mention.slots
                    for key in lacking
                    if any(source == name for source, _ in self.paths.get(key, []))
                }
            )
            if len(feeding) == 1:
                self._bind(mention, self._call_for(feeding[0]))
                self._chain()
            elif len(feeding) > 1:
                mention.problem = f"{mention.text!r} could be for {' or '.join(feeding)}"

    def _reference_echoes(self) -> None:
        """A value the user gave that a lookup was called with is taken from the lookup's output by the
        calls after it (the order id once the order is found), as a chain of calls does."""
        for call in self.calls:
            for param, value in list(call.arguments.items()):
                if isinstance(value, _Use) or parse_reference(value):
                    continue
                for producer in self.calls:
                    if producer is call or producer.arguments.get(param) != value or self._depends(producer, call):
                        continue
                    sources = self.paths.get((call.name, param), [])
                    path = next((p for source, p in sources if source == producer.name), None)
                    if path is not None:
                        call.arguments[param] = _Use(producer, path)
                        break

    def _connect_components(self) -> None:
        """Calls the reading left apart are tied through a parameter still free, as the user's one task
        is ("log the activity for that opportunity"): a link from a call of another group, earliest first."""
        while True:
            groups = self._components()
            if len(set(groups.values())) <= 1 or not self._join(groups):
                return

    def _components(self) -> dict[int, int]:
        """Call position -> group, calls tied by references (to each other or to the same earlier call)."""
        parent = list(range(len(self.calls)))

        def root(index: int) -> int:
            while parent[index] != index:
                index = parent[index]
            return index

        position = {id(call): index for index, call in enumerate(self.calls)}
        first_user: dict[str, int] = {}
        for index, call in enumerate(self.calls):
            for value in call.arguments.values():
                if isinstance(value, _Use):
                    parent[root(index)] = root(position[id(value.producer)])
                elif (reference := parse_reference(value)) is not None:
                    parent[root(index)] = root(first_user.setdefault(reference[0], index))
        return {index: root(index) for index in range(len(self.calls))}

    def _join(self, groups: Mapping[int, int]) -> bool:
        for index, call in enumerate(self.calls):
            for param in call.reading.params:
                if param in call.arguments:
                    continue
                for source, path in self.paths.get((call.name, param), []):
                    for other, producer in enumerate(self.calls):
                        apart = groups[other] != groups[index]
                        if producer.name == source and apart and not self._depends(producer, call):
                            call.arguments[param] = _Use(producer, path)
                            return True
        return False

    def _switch(self, param: _Param) -> bool | None:
        """A yes/no setting the user stated in words ("only available ones", "not internal") or, as
        requests the rules refuse do, as a switch ("with notify customer turned off"); else None."""
        if not param.is_boolean:
            return None
        said = read_boolean(param.spelled, self.request.request)
        if said is not None:
            return said
        label = re.escape(" ".join(param.spelled))
        match = re.search(rf"\b{label}\s+(?:turned\s+)?(on|off|enabled|disabled)\b", self.request.request, re.IGNORECASE)
        return None if match is None else match.group(1).lower() in ("on", "enabled")

    def _set_switches(self) -> None:
        for call in self.calls:
            for param in call.reading.params.values():
                switch = self._switch(param)
                if switch is not None and param.name not in call.arguments:
                    call.arguments[param.name] = switch

    def _planned_calls(self) -> list[PlannedCall]:
        """The calls in dependency order (ties: goals in text order, then lookups as found), numbered."""
        position = {id(call): index for index, call in enumerate(self.calls)}
        consumers: dict[int, list[int]] = {index: [] for index in range(len(self.calls))}
        waiting = [0] * len(self.calls)
        for index, call in enumerate(self.calls):
            for producer in {id(v.producer) for v in call.arguments.values() if isinstance(v, _Use)}:
                consumers[position[producer]].append(index)
                waiting[index] += 1
        ready = [index for index, count in enumerate(waiting) if count == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            index = heapq.heappop(ready)
            order.append(index)
            for consumer in consumers[index]:
                waiting[consumer] -= 1
                if waiting[consumer] == 0:
                    heapq.heappush(ready, consumer)
        refs = {index: f"${self.request.next_ref + rank}" for rank, index in enumerate(order)}
        planned = []
        for index in order:
            call = self.calls[index]
            arguments = {
                param: f"{refs[position[id(value.producer)]]}.{value.path}" if isinstance(value, _Use) else value
                for param in call.reading.params
                if (value := call.arguments.get(param, _NO_VALUE)) is not _NO_VALUE
            }
            planned.append(PlannedCall(ref=refs[index], tool=call.name, arguments=arguments))
        return planned


def _holds(executed: ExecutedCall, path: str) -> bool:
    try:
        resolve_path(executed.output, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def derive_plan(request: BackTranslateRequest) -> tuple[list[PlannedCall], list[str]]:
    """The plan a request asks for, read from the request, history and tools alone, and where the
    reading could not decide (empty when nothing was in doubt)."""
    derivation = _Derivation(request)
    calls = derivation.derive()
    return calls, derivation.problems


def back_translate_offline(request: BackTranslateRequest, rng: random.Random) -> BackTranslateResponse:
    """Step 5 in the offline default. The reading is deterministic (a request means one thing), so
    ``rng``, part of every offline handler's signature, is not drawn from."""
    calls, _ = derive_plan(request)
    return BackTranslateResponse(calls=calls)



