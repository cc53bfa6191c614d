"""What field names and values say, for the offline judge and simulator: moments and past-tense
fields, begin/end order, totals, counts and line items, placeholders, and walks over nested values.
The simulator repairs exactly what the judge would reject, so both read fields the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from digit_assets.engine.lexicon import name_words

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


def rescaled_lines(obj: Mapping[str, Any], total_field: str, total: float) -> dict[str, Any] | None:
    """``obj`` with its line items' prices scaled so that ``total_field`` adds up to ``total``, a total
    the session already showed for this object (a list showed the order, now its lines are fetched);
    None when the object has no single list of priced lines or the lines cannot reach it."""
    expected = expected_aggregates(obj).get(total_field)
    arrays = [f for f, v in obj.items() if isinstance(v, list) and v and _names_line_items(f) and all(isinstance(i, dict) for i in v)]
    if expected is None or len(arrays) != 1:
        return None
    lines = [_line_value(item) for item in obj[arrays[0]]]
    base = sum(line for line in lines if line is not None)
    target = base + (total - expected)
    if None in lines or base <= 0 or target <= 0:
        return None
    factor = target / base
    items = [_priced(dict(item), lambda price: price * factor) for item in obj[arrays[0]]]
    result = {**obj, arrays[0]: items}
    residual = total - expected_aggregates(result)[total_field]
    single = next((i for i, item in enumerate(items) if next((item[q] for q in _QUANTITIES if is_number(item.get(q))), 1) == 1), 0)
    quantity = next((items[single][q] for q in _QUANTITIES if is_number(items[single].get(q))), 1)
    items[single] = _priced(items[single], lambda price: price + residual / quantity)
    if is_number(result.get("subtotal")):
        result["subtotal"] = expected_aggregates(result).get("subtotal", result["subtotal"])
    return result if abs(expected_aggregates(result)[total_field] - total) <= aggregate_tolerance(result) else None


def _priced(item: dict[str, Any], change: Any) -> dict[str, Any]:
    """A line with its unit price changed and its line total recomputed (or its line total changed)."""
    price = next((f for f in _UNIT_PRICES if is_number(item.get(f))), None)
    quantity = next((item[q] for q in _QUANTITIES if is_number(item.get(q))), 1)
    if price is not None:
        item[price] = round(max(0.01, change(float(item[price]))), 2)
        for field in _LINE_TOTALS:
            if is_number(item.get(field)):
                item[field] = round(item[price] * quantity, 2)
    else:
        field = next(f for f in _LINE_TOTALS if is_number(item.get(f)))
        item[field] = round(max(0.01, change(float(item[field]))), 2)
    return item
