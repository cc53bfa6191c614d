"""The termination judge (method.md step 9) as rules, each of which can reject a conversation.

The judge sees what a reviewer sees: today's date, the user requests and the executed calls with
their arguments and outputs; no schemas. Every problem is one sentence naming the call and value.

Rules and their documented judgement calls:

* **Placeholders**: template values ("string", "xxx", "<order_id>", "{name}", "lorem ipsum",
  "123456", "0000", "John Doe", ...) in arguments or results, and unresolved ``$k`` references.
  Emails on ``example.com/org/net`` are *not* placeholders: RFC 2606 reserves those domains for
  exactly this use and Faker's safe emails use them; only template local parts (``user@``,
  ``test@``, ``your.email@`` ...) or template domains (``domain.com``, ``email.com`` ...) count.
* **Hallucinated arguments**: a literal argument value found in no user request up to its turn
  and in no earlier argument or result. Exempt, because the assistant legitimately chooses them:
  booleans and nulls, small integers (|n| <= 10: pages, limits, counts), lowercase one-word
  options (the judge has no schemas, so these stand in for enum values such as "asc" or
  "economy"), and prose of five or more words (a message body the assistant composes). A date
  is grounded by "today"/"tomorrow"/"yesterday" in the request, a date-time by its date.
* **Temporal inconsistencies**: past-tense result fields (created, placed, paid, ...) dated after
  today; begin/end pairs out of order (check-in/check-out, start/end, departure/arrival, ...) in
  arguments or results; bookings and schedules set before today.
* **Impossible results**: negative prices, quantities or counts; totals that contradict their line
  items and adjustments; result counts smaller than the list they describe; a lookup that found
  nothing followed, in the same turn, by a call acting on what it would have found.
* **Ignored constraints**: a distinctive value the user stated (ISO date, email, id-like token,
  decimal amount) that no call's arguments carry.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from digit_assets.engine.llm.roles import JudgeRequest, JudgeResponse
from digit_assets.engine.synthesis.model import REFERENCE_LEAK, ExecutedCall
from digit_assets.engine.synthesis.text import find_value, value_text
from digit_assets.engine.synthesis.values import words_of


@lru_cache(maxsize=16_384)
def name_words(name: str) -> tuple[str, ...]:
    """Cached :func:`words_of`: the simulator and the judge ask for the same few names very often."""
    return tuple(words_of(name))


def singular(word: str) -> str:
    return word[:-3] + "y" if word.endswith("ies") else word[:-1] if word.endswith("s") and not word.endswith("ss") else word


# --- Dates ---------------------------------------------------------------------------------------

_ISO_MOMENT = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?$")

PAST_WORDS = frozenset(
    {
        "created", "placed", "order", "ordered", "purchased", "paid", "issued", "sent", "received", "delivered",
        "shipped", "joined", "registered", "submitted", "cancelled", "canceled", "refunded", "completed",
        "closed", "modified", "updated", "deleted", "last", "birth", "born", "since", "opened", "signed",
    }
)
_NOT_YET_WORDS = frozenset({"expected", "estimated", "scheduled", "due", "next", "planned", "until"})


def parse_moment(value: Any) -> datetime | None:
    """An ISO date or date-time string as a naive datetime (offsets dropped); None otherwise."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    match = _ISO_MOMENT.match(value)
    if match is None:
        return None
    try:
        return datetime.fromisoformat(f"{match.group(1)}T{match.group(2) or '00:00'}")
    except ValueError:
        return None


def has_time(value: str) -> bool:
    return len(value) > 10


@lru_cache(maxsize=16_384)
def is_past_field(name: str) -> bool:
    """Fields that record something that already happened: their dates cannot lie after today."""
    words = set(name_words(name))
    return bool(words & PAST_WORDS) and not words & _NOT_YET_WORDS


# Begin/end roles that must be ordered when two fields of one object share the rest of their name.
_ORDER_FAMILIES: dict[str, tuple[str, int]] = {
    **{word: ("span", 0) for word in ("start", "begin", "from")},
    **{word: ("span", 1) for word in ("end", "to", "until")},
    "checkin": ("stay", 0),
    "checkout": ("stay", 1),
    **{word: ("trip", 0) for word in ("departure", "depart", "outbound")},
    **{word: ("trip", 1) for word in ("arrival", "arrive", "return", "inbound")},
    "pickup": ("rental", 0),
    "dropoff": ("rental", 1),
    "created": ("record", 0),
    **{word: ("record", 1) for word in ("updated", "modified")},
    **{word: ("validity", 0) for word in ("issued", "issue")},
    **{word: ("validity", 1) for word in ("due", "expiry", "expires", "expiration")},
    **{word: ("opening", 0) for word in ("open", "opened")},
    **{word: ("opening", 1) for word in ("close", "closed")},
}
_COMPOUNDS = (("check_in", "checkin"), ("check_out", "checkout"), ("pick_up", "pickup"), ("drop_off", "dropoff"))


@lru_cache(maxsize=16_384)
def order_role(name: str) -> tuple[str, int, tuple[str, ...]] | None:
    """``check_out_date`` -> ``("stay", 1, ("date",))``: family, side (0 begin, 1 end), the rest."""
    joined = "_".join(name_words(name))
    for compound, word in _COMPOUNDS:
        joined = joined.replace(compound, word)
    words = joined.split("_")
    for index, word in enumerate(words):
        if word in _ORDER_FAMILIES:
            family, side = _ORDER_FAMILIES[word]
            return family, side, tuple(words[:index] + words[index + 1 :])
    return None


def misordered_pairs(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(begin field, end field) pairs of one object whose end lies before their begin."""
    begins: list[tuple[str, tuple[str, tuple[str, ...]], datetime]] = []
    ends: list[tuple[str, tuple[str, tuple[str, ...]], datetime]] = []
    for field, value in obj.items():
        moment = parse_moment(value)
        role = order_role(field) if moment else None
        if role is not None:
            (begins, ends)[role[1]].append((field, (role[0], role[2]), moment))
    pairs = []
    for begin, begin_key, begin_at in begins:
        for end, end_key, end_at in ends:
            if begin_key != end_key:
                continue
            both_timed = has_time(obj[begin]) and has_time(obj[end])
            if (end_at < begin_at) if both_timed else (end_at.date() < begin_at.date()):
                pairs.append((begin, end))
    return pairs


# --- Amounts and counts --------------------------------------------------------------------------

_NON_NEGATIVE = frozenset(
    {"price", "cost", "fee", "fees", "fare", "total", "subtotal", "quantity", "qty", "count", "nights", "guests",
     "seats", "copies", "stock", "inventory", "capacity", "age", "duration", "distance", "weight", "tax"}
)
_SIGNED = frozenset({"balance", "change", "delta", "difference", "adjustment", "net", "profit", "offset", "variance"})
_LINE_ARRAYS = frozenset({"item", "items", "line", "lines", "product", "products", "entry", "entries", "charge", "charges"})
_LINE_TOTALS = ("line_total", "subtotal", "total", "amount")
_UNIT_PRICES = ("unit_price", "price", "cost")
_QUANTITIES = ("quantity", "qty")
_ADDED = frozenset({"tax", "taxes", "shipping", "fee", "fees", "tip", "delivery", "service", "surcharge"})
_SUBTRACTED = frozenset({"discount", "credit", "coupon", "savings", "promo"})
_COUNT_NAMES = frozenset({"count", "total_count", "total_results", "result_count", "results_count", "num_results", "total_items"})


@lru_cache(maxsize=16_384)
def must_be_non_negative(name: str) -> bool:
    words = set(name_words(name))
    return bool(words & _NON_NEGATIVE) and not words & _SIGNED


def is_number(value: Any) -> bool:
    """An int or float, not a bool."""
    return type(value) in (int, float)


def _line_value(item: Mapping[str, Any]) -> float | None:
    for field in _LINE_TOTALS:
        if is_number(item.get(field)):
            return float(item[field])
    for field in _UNIT_PRICES:
        if is_number(item.get(field)):
            quantity = next((item[q] for q in _QUANTITIES if is_number(item.get(q))), 1)
            return float(item[field]) * quantity
    return None


_TOTAL_QUALIFIERS = frozenset(
    {"total", "amount", "price", "cost", "due", "paid", "charge", "charged", "value", "sum", "grand", "order", "invoice",
     "cart", "booking", "payment", "bill", "fare", "trip"}
)
_ADJUSTMENT_UNITS = frozenset({"tax", "taxes", "shipping", "fee", "fees", "tip", "surcharge", "cost", "amount", "charge", "discount", "credit", "savings"})


@lru_cache(maxsize=16_384)
def is_total_field(name: str) -> bool:
    """``total``, ``total_amount``, ``order_total``: money totals, not ``total_orders`` counts."""
    words = set(name_words(name))
    return "total" in words and words <= _TOTAL_QUALIFIERS


@lru_cache(maxsize=16_384)
def _adjustment_sign(name: str) -> int:
    """+1 for amounts added on top of the items (tax, shipping, fees), -1 for discounts, 0 else."""
    words = name_words(name)
    if not words or words[-1] not in _ADJUSTMENT_UNITS:
        return 0
    return 1 if set(words) & _ADDED else -1 if set(words) & _SUBTRACTED else 0


@lru_cache(maxsize=16_384)
def _names_line_items(name: str) -> bool:
    return bool(set(name_words(name)) & _LINE_ARRAYS)


def expected_aggregates(obj: Mapping[str, Any]) -> dict[str, float]:
    """What ``subtotal``/``total`` fields must be, given the object's line items and adjustments.

    Only objects with exactly one list of priced line items (or an explicit subtotal) have an
    expectation; a total with nothing to add up is left alone.
    """
    line_arrays = [
        value
        for field, value in obj.items()
        if isinstance(value, list) and value and _names_line_items(field) and all(isinstance(v, dict) for v in value)
    ]
    lines = [_line_value(item) for item in line_arrays[0]] if len(line_arrays) == 1 else []
    unit_price = next((obj[f] for f in _UNIT_PRICES if is_number(obj.get(f))), None)
    quantity = next((obj[q] for q in _QUANTITIES if is_number(obj.get(q))), None)
    expected: dict[str, float] = {}
    if lines and None not in lines:
        base = round(sum(lines), 2)  # type: ignore[arg-type]
        if is_number(obj.get("subtotal")):
            expected["subtotal"] = base
    elif unit_price is not None and quantity is not None:
        base = round(unit_price * quantity, 2)
        line_total = next((f for f in ("line_total", "subtotal") if is_number(obj.get(f))), None)
        if line_total:
            expected[line_total] = base
    elif is_number(obj.get("subtotal")):
        base = float(obj["subtotal"])
    else:
        return expected
    adjustment = sum(
        _adjustment_sign(field) * value for field, value in obj.items() if is_number(value) and not is_total_field(field)
    )
    for field, value in obj.items():
        if field not in expected and is_total_field(field) and is_number(value):
            expected[field] = round(base + adjustment, 2)
    return expected


def aggregate_tolerance(obj: Mapping[str, Any]) -> float:
    """A cent per line and one more: amounts are rounded per line before they are summed."""
    lines = max((len(v) for v in obj.values() if isinstance(v, list)), default=0)
    return 0.01 * (lines + 1)


def count_targets(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(count field, list field) pairs where the count describes how many items the list holds."""
    arrays = [field for field, value in obj.items() if isinstance(value, list)]
    targets = []
    for field, value in obj.items():
        if not is_number(value) or isinstance(value, float):
            continue
        named = [a for a in arrays if field in (f"{a}_count", f"{singular(a)}_count", f"num_{a}", f"total_{a}")]
        if named:
            targets.append((field, named[0]))
        elif field in _COUNT_NAMES and len(arrays) == 1:
            targets.append((field, arrays[0]))
    return targets


# --- Placeholders --------------------------------------------------------------------------------

_PLACEHOLDER_VALUES = frozenset(
    {
        "string", "str", "example", "sample", "placeholder", "foo", "foobar", "baz", "qux", "test", "testing",
        "todo", "tbd", "tba", "n/a", "na", "null", "nil", "undefined", "value", "dummy", "lorem", "ipsum",
        "asdf", "qwerty", "abc", "abc123", "xyz", "john doe", "jane doe", "your name", "name", "id", "text",
        "...", "…", "123", "1234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890",
    }
)
_PLACEHOLDER_PATTERNS = re.compile(
    r"(?<![a-z])x{3,}(?![a-z])"  # xxx, ORD-XXXX, xxx-xxx-xxxx
    r"|<[^<>]{1,40}>"  # <order_id>
    r"|\{\{?\s*[a-z_][\w .-]*\}\}?"  # {name}, {{name}}
    r"|\[(?:insert|your|enter)[^\]]*\]"  # [insert date]
    r"|\blorem ipsum\b|\binsert .{1,30} here\b|^your[ _](?:name|e-?mail|id|api[ _]key|key|address|phone|password|username|token)\b|^(\d)\1{3,}$|^(\d)\2{2}-\2{3}-\2{4}$",
    re.IGNORECASE,
)
_PLACEHOLDER_EMAIL_USERS = frozenset(
    {"user", "email", "test", "example", "name", "foo", "someone", "somebody", "john.doe", "jane.doe", "johndoe",
     "janedoe", "your.email", "youremail", "your_email", "me", "abc", "xyz", "username", "firstname.lastname"}
)
_PLACEHOLDER_EMAIL_DOMAINS = frozenset({"domain.com", "yourdomain.com", "email.com", "test.com", "sample.com", "company.com"})


_PLACEHOLDER_NUMBERS = frozenset({12345, 123456, 1234567, 12345678, 123456789, 1234567890})


def is_placeholder(value: Any) -> bool:
    """A template value nobody would send or receive for real (see the module docstring)."""
    if type(value) is int or type(value) is float:
        return value in _PLACEHOLDER_NUMBERS
    if not isinstance(value, str):
        return False
    text = " ".join(value.split()).lower()
    if text in _PLACEHOLDER_VALUES or _PLACEHOLDER_PATTERNS.search(text):
        return True
    if "@" in text and " " not in text:
        user, _, domain = text.partition("@")
        return user in _PLACEHOLDER_EMAIL_USERS or domain in _PLACEHOLDER_EMAIL_DOMAINS
    return False


# --- Walking calls -------------------------------------------------------------------------------


def leaves(value: Any, path: str = "", name: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, field name, scalar) for every scalar inside nested dicts and lists."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]", name)
    else:
        yield path, name, value


def objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict inside a value, the value itself first."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from objects(item)


def _label(call: ExecutedCall) -> str:
    return f"{call.ref} {call.tool}"


# --- Rules ---------------------------------------------------------------------------------------


def placeholder_problems(calls: Sequence[ExecutedCall]) -> list[str]:
    problems = []
    for call in calls:
        for path, _, value in leaves(call.arguments):
            if isinstance(value, str) and REFERENCE_LEAK.search(value):
                problems.append(f"{_label(call)}: argument {path}={value!r} is an unresolved reference")
            elif is_placeholder(value):
                problems.append(f"{_label(call)}: argument {path}={value!r} is a placeholder, not a real value")
        for path, _, value in leaves(call.output or {}):
            if is_placeholder(value):
                problems.append(f"{_label(call)}: result field {path}={value!r} is a placeholder, not a real value")
    return problems


_OPTION_WORD = re.compile(r"^[a-z][a-z_-]{0,23}$")
_RELATIVE_DAYS = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1}


def is_assistant_choice(value: Any) -> bool:
    """Values the assistant may pick without the user stating them (see the module docstring)."""
    if value is None or isinstance(value, bool):
        return True
    if is_number(value):
        return isinstance(value, int) and abs(value) <= 10
    return isinstance(value, str) and (bool(_OPTION_WORD.match(value)) or len(value.split()) >= 5)


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")


def numbers_in(text: str) -> set[float]:
    """Every number written in a text: "$1,200.50" counts as 1200.5, so 1200.5 is grounded by it."""
    return {float(match) for match in _NUMBER.findall(text.replace(",", ""))}


def _grounded(value: Any, text: str, numbers: set[float], seen: set[str], today: date) -> bool:
    if find_value(text, value) >= 0 or value_text(value).lower() in seen:
        return True
    if is_number(value):
        return float(value) in numbers
    moment = parse_moment(value)
    if moment is None:
        return False
    day = moment.date()
    if has_time(value) and (find_value(text, day.isoformat()) >= 0 or day.isoformat() in seen):
        return True
    lowered = text.lower()
    return any(re.search(rf"\b{word}\b", lowered) and day == today + timedelta(days=shift) for word, shift in _RELATIVE_DAYS.items())


def hallucination_problems(today: date, requests: Sequence[str], calls: Sequence[ExecutedCall]) -> list[str]:
    problems = []
    seen: set[str] = set()
    for call in calls:
        text = "\n".join(requests[: call.turn + 1])
        numbers = numbers_in(text)
        for path, _, value in leaves(call.arguments):
            if not is_assistant_choice(value) and not _grounded(value, text, numbers, seen, today):
                problems.append(
                    f"{_label(call)}: argument {path}={value!r} appears in no user request and no earlier result (hallucinated)"
                )
        for container in (call.arguments, call.output or {}):
            seen.update(value_text(v).lower() for _, _, v in leaves(container) if value_text(v))
    return problems


_SCHEDULING_VERBS = frozenset({"book", "reserve", "schedule", "reschedule"})


def temporal_problems(today: date, calls: Sequence[ExecutedCall]) -> list[str]:
    problems = []
    for call in calls:
        for obj in objects(call.output or {}):
            for field, value in obj.items():
                moment = parse_moment(value)
                if moment and is_past_field(field) and moment.date() > today:
                    problems.append(f"{_label(call)}: result field {field}={value} lies after today ({today}) but records something past")
            for begin, end in misordered_pairs(obj):
                problems.append(f"{_label(call)}: result {end}={obj[end]} is before {begin}={obj[begin]}")
        for obj in objects(call.arguments):
            for begin, end in misordered_pairs(obj):
                problems.append(f"{_label(call)}: argument {end}={obj[end]} is before {begin}={obj[begin]}")
        verb = name_words(call.tool)[:1]
        if verb and verb[0] in _SCHEDULING_VERBS:
            for path, field, value in leaves(call.arguments):
                moment = parse_moment(value)
                if moment and not is_past_field(field) and moment.date() < today:
                    problems.append(f"{_label(call)}: argument {path}={value} schedules something before today ({today})")
    return problems


def impossible_result_problems(calls: Sequence[ExecutedCall]) -> list[str]:
    problems = []
    for index, call in enumerate(calls):
        for kind, container in (("argument", call.arguments), ("result field", call.output or {})):
            for path, field, value in leaves(container):
                if is_number(value) and value < 0 and must_be_non_negative(field):
                    problems.append(f"{_label(call)}: {kind} {path}={value_text(value)} cannot be negative")
        for obj in objects(call.output or {}):
            tolerance = aggregate_tolerance(obj)
            for field, expected in expected_aggregates(obj).items():
                if abs(obj[field] - expected) > tolerance:
                    problems.append(
                        f"{_label(call)}: result {field}={value_text(obj[field])} contradicts its items and adjustments ({value_text(expected)})"
                    )
            for count_field, list_field in count_targets(obj):
                if obj[count_field] < len(obj[list_field]):
                    problems.append(
                        f"{_label(call)}: result {count_field}={obj[count_field]} is smaller than the {len(obj[list_field])} {list_field} listed"
                    )
        problems += _empty_lookup_problems(call, calls[index + 1 :])
    return problems


_ID_WORDS = frozenset({"id", "uuid", "number", "code", "ref", "reference", "key"})


def _empty_lookup_problems(call: ExecutedCall, later: Sequence[ExecutedCall]) -> list[str]:
    """An empty list, then a call in the same turn acting on an item that list should have held."""
    problems = []
    for obj in objects(call.output or {}):
        for field, value in obj.items():
            if value != [] or not name_words(field):
                continue
            stem = singular(name_words(field)[-1])
            for consumer in later:
                if consumer.turn != call.turn:
                    continue
                for param, argument in consumer.arguments.items():
                    words = name_words(param)
                    if len(words) > 1 and words[0] == stem and words[-1] in _ID_WORDS:
                        problems.append(
                            f"{_label(call)}: found no {field}, yet {_label(consumer)} acted on {param}={argument!r} as if one existed"
                        )
    return problems


_TOKEN = re.compile(r"[\w@.+:/$-]+")
_EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$")
_DECIMAL = re.compile(r"^\$?(\d+\.\d{1,2})$")
_UNIT_NUMBER = re.compile(r"^\d+-?[a-z]+$", re.IGNORECASE)  # 2nd, 10am, 3-day, 100km


def stated_values(text: str) -> list[str]:
    """Distinctive values in a request: ISO dates, emails, id-like tokens, decimal amounts."""
    found: list[str] = []
    for token in _TOKEN.findall(text):
        token = token.strip(".,;:!?/")
        decimal = _DECIMAL.match(token)
        if decimal:
            value = decimal.group(1)
        elif parse_moment(token) or _EMAIL.match(token):
            value = token
        elif (
            len(token) >= 4
            and re.search(r"\d", token)
            and re.search(r"[A-Za-z]", token)
            and not _UNIT_NUMBER.match(token)
            and "/" not in token
            and ":" not in token
            and not token.startswith("$")
        ):
            value = token
        else:
            continue
        if value not in found:
            found.append(value)
    return found


def _carries(argument: Any, stated: str) -> bool:
    if is_number(argument):
        return _DECIMAL.match(stated) is not None and abs(float(stated) - argument) < 0.005
    return isinstance(argument, str) and stated.lower() in argument.lower()


def ignored_constraint_problems(requests: Sequence[str], calls: Sequence[ExecutedCall]) -> list[str]:
    arguments = [value for call in calls for _, _, value in leaves(call.arguments)]
    return [
        f"request {index + 1} states {stated!r}, but no call uses it (ignored constraint)"
        for index, request in enumerate(requests)
        for stated in stated_values(request)
        if not any(_carries(argument, stated) for argument in arguments)
    ]


def conversation_problems(today: str, requests: Sequence[str], calls: Sequence[ExecutedCall]) -> list[str]:
    day = date.fromisoformat(today)
    return [
        *placeholder_problems(calls),
        *hallucination_problems(day, requests, calls),
        *temporal_problems(day, calls),
        *impossible_result_problems(calls),
        *ignored_constraint_problems(requests, calls),
    ]


def judge_offline(request: JudgeRequest, rng: random.Random) -> JudgeResponse:
    """The offline judge: deterministic rules, so ``rng`` (part of the handler signature) goes unused."""
    problems = conversation_problems(request.today, request.requests, request.calls)
    return JudgeResponse(accept=not problems, problems=problems)
