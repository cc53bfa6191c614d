"""The offline turn summary (method.md step 7, role ``summarize_turn``).

It says what was done in plain verbs ("I looked up your orders and cancelled the order") and
repeats the results the user cares about, written exactly as the results hold them (ids,
statuses, amounts, dates), so a reader can match them; it never names a tool or parameter.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

from digit_assets.engine.lexicon import acting_phrase, is_action_verb, is_entity_key, name_words, past_tense, tool_context, tool_verb
from digit_assets.engine.offline.fields import is_number, parse_moment
from digit_assets.engine.synthesis.model import ExecutedCall
from digit_assets.engine.synthesis.roles import SummarizeTurnRequest, SummarizeTurnResponse
from digit_assets.engine.synthesis.text import is_mentionable, value_text

PAST_TENSE = {
    "get": "looked up", "fetch": "pulled up", "retrieve": "retrieved", "read": "read", "show": "pulled up",
    "view": "checked", "check": "checked", "find": "found", "search": "searched for", "lookup": "looked up",
    "look": "looked up", "list": "listed", "query": "queried", "count": "counted", "describe": "reviewed",
    "browse": "browsed", "track": "tracked", "calculate": "calculated", "estimate": "estimated", "compare": "compared",
    "validate": "validated", "verify": "verified", "create": "created", "add": "added", "new": "created",
    "make": "made", "place": "placed", "order": "ordered", "purchase": "purchased", "buy": "bought", "book": "booked",
    "reserve": "reserved", "schedule": "scheduled", "register": "registered", "submit": "submitted",
    "apply": "applied for", "request": "requested", "update": "updated", "edit": "edited", "modify": "modified",
    "change": "changed", "set": "set", "rename": "renamed", "reschedule": "rescheduled", "move": "moved",
    "cancel": "cancelled", "delete": "deleted", "remove": "removed", "archive": "archived", "approve": "approved",
    "reject": "rejected", "decline": "declined", "close": "closed", "resolve": "resolved", "complete": "completed",
    "pay": "paid", "refund": "refunded", "ship": "shipped", "send": "sent", "notify": "notified", "share": "shared",
    "assign": "assigned", "return": "returned", "confirm": "confirmed", "activate": "activated",
    "deactivate": "deactivated", "enable": "enabled", "disable": "disabled", "suspend": "suspended",
    "upload": "uploaded", "download": "downloaded", "export": "exported", "transfer": "transferred",
    "subscribe": "subscribed to", "unsubscribe": "unsubscribed from", "open": "opened", "start": "started",
    "stop": "stopped", "recommend": "found recommendations for", "convert": "converted", "translate": "translated",
}
_OPENERS = ("I {steps}.", "Done: I {steps}.", "All set. I {steps}.", "Here is what I did: I {steps}.")
_FACT_LINES = ("Key details: {facts}.", "For your records: {facts}.", "Here is what came back: {facts}.", "The result shows {facts}.")
_MAX_FACTS = 4
_MONEY_WORDS = frozenset({"total", "amount", "price", "cost", "fee", "fare", "refund", "balance", "subtotal", "charge"})


def _step(call: ExecutedCall, rng: random.Random) -> str:
    """``cancel_order`` -> "cancelled the order"; unknown verbs read as "handled the <words>"."""
    verb = tool_verb(call.tool)
    nouns = " ".join(name_words(call.tool)[1:] if name_words(call.tool)[:1] == (verb,) else tool_context(call.tool))
    owner = rng.choice(("the", "your"))
    if verb in PAST_TENSE:
        return f"{PAST_TENSE[verb]} {owner} {nouns}".rstrip() if nouns else PAST_TENSE[verb]
    acting = acting_phrase(call.tool)
    if acting is not None:  # reply_to_ticket: "replied to the ticket"
        return f"{past_tense(acting[0])} {acting[1]} {owner} {' '.join(acting[2])}"
    if is_action_verb(verb) and nouns:  # restore_file: "restored the file"
        return f"{past_tense(verb)} {owner} {nouns}"
    return f"handled {owner} {' '.join(name_words(call.tool))}"


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _fact_rank(field: str, value: Any) -> int | None:
    """What a user cares about, most first: 0 a status, 1 an id, 2 an amount, 3 a date; None: nothing."""
    words = name_words(field)
    if not words or not is_mentionable(value) or (isinstance(value, str) and len(value) > 60):
        return None
    if words[-1] in ("status", "state"):
        return 0
    if is_entity_key(field):
        return 1
    if is_number(value) and set(words) & _MONEY_WORDS:
        return 2
    return 3 if parse_moment(value) else None


def _scalars(output: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Top-level fields first, then those of nested objects and of the first item of each list."""
    if not isinstance(output, dict) or depth > 2:
        return
    nested = []
    for field, value in output.items():
        if isinstance(value, dict):
            nested.append(value)
        elif isinstance(value, list):
            nested.extend(value[:1])
        else:
            yield field, value
    for value in nested:
        yield from _scalars(value, depth + 1)


def key_facts(calls: Sequence[ExecutedCall]) -> list[tuple[str, Any]]:
    """(field, value) the user cares about: the last call's results first, then earlier ids."""
    facts: list[tuple[int, int, str, Any]] = []
    seen: set[str] = set()
    for recency, call in enumerate(reversed(calls)):
        for field, value in _scalars(call.output):
            rank = _fact_rank(field, value)
            text = value_text(value)
            if rank is None or text in seen or (recency > 0 and rank != 1):
                continue
            seen.add(text)
            facts.append((recency, rank, field, value))
    facts.sort(key=lambda fact: (fact[0] > 0, fact[1]))
    return [(field, value) for _, _, field, value in facts[:_MAX_FACTS]]


def summarize_turn_offline(request: SummarizeTurnRequest, rng: random.Random) -> SummarizeTurnResponse:
    """The offline summary: what I did, then the key results, in one to two sentences."""
    steps: list[str] = []
    for call in request.calls:
        step = _step(call, rng)
        if step not in steps:
            steps.append(step)
    sentences = [rng.choice(_OPENERS).format(steps=_join(steps) if steps else "took care of your request")]
    facts = key_facts(request.calls)
    if facts:
        written = [f"{' '.join(name_words(field))} {value_text(value)}" for field, value in facts]
        sentences.append(rng.choice(_FACT_LINES).format(facts=_join(written)))
    return SummarizeTurnResponse(summary=" ".join(sentences))


