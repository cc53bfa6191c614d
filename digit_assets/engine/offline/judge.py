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
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from digit_assets.engine.lexicon import name_words, singular
from digit_assets.engine.offline.fields import (
    aggregate_tolerance,
    expected_aggregates,
    has_time,
    is_number,
    is_past_field,
    is_placeholder,
    leaves,
    misordered_pairs,
    must_be_non_negative,
    objects,
    parse_moment,
)
from digit_assets.engine.synthesis.model import REFERENCE_LEAK, ExecutedCall
from digit_assets.engine.synthesis.roles import JudgeRequest, JudgeResponse
from digit_assets.engine.synthesis.simulation import count_targets
from digit_assets.engine.synthesis.text import find_value, value_text

# --- Rules ---------------------------------------------------------------------------------------


def _label(call: ExecutedCall) -> str:
    return f"{call.ref} {call.tool}"


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
