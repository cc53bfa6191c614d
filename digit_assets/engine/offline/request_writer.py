"""The offline request writer (method.md step 4, role ``write_request``).

It plays a user who knows what they want done (the explicit calls, described by verb and object)
and the facts they have at hand (every literal value, the hidden calls' too), but not how the
system finds things: a hidden call is never described, so the assistant has to discover it.

Values are said the way people say them, by what they are to the person ("in "Lisbon"", "from
2026-05-03", "at least 500 bytes", "under 80 dollars", "called "Notes""), never by a parameter's name; the
roles come from the shared English of :mod:`digit_assets.engine.lexicon`. Sentences follow one of
several plans (imperative, question, first-person need, context first, terse), in the persona's voice.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from digit_assets.engine.lexicon import (
    ACTION_SYNONYMS,
    NUMBER_WORDS,
    acting_phrase,
    boolean_phrases,
    parse_tool_name,
    pluralize,
    singularize,
    spelled_date,
    spoken_choice,
    value_roles,
    value_shape,
    words_of,
)
from digit_assets.engine.synthesis.model import PlannedCall, ToolView
from digit_assets.engine.synthesis.roles import WriteRequestRequest, WriteRequestResponse
from digit_assets.engine.synthesis.text import (
    humanize,
    is_identifier_like,
    is_identifier_param,
    is_mentionable,
    value_text,
)

# --- Values as a user types them ----------------------------------------------------------------------


def is_record(value: Any) -> bool:
    """An object, or a list of objects, whose fields are all values a user would state: written as
    "(product id P1, quantity 2)" groups."""
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and all(isinstance(item, dict) and is_record(item) for item in value)
    return isinstance(value, dict) and len(value) > 0 and all(is_mentionable(field) for field in value.values())


def render_value(value: Any) -> str:
    """A literal as a user types it: shaped values bare, free text in quotes, lists as a series,
    objects as a parenthesized group of named fields."""
    if isinstance(value, dict):
        return "(" + ", ".join(f"{humanize(name)} {render_value(field)}" for name, field in value.items()) + ")"
    if isinstance(value, (list, tuple)):
        return _join_series([render_value(item) for item in value])
    written = value_text(value)
    if value_shape(written):
        return written
    quote = "'" if '"' in written else '"'
    return f"{quote}{written}{quote}"


def _join_series(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# --- Voices -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Voice:
    """How one persona talks; the same persona keeps its voice across turns."""

    openers: tuple[str, ...]
    asks: tuple[str, ...]  # "{goal}" is the lower-case goal text
    follow_ups: tuple[str, ...]  # continuity openers of later turns
    closers: tuple[str, ...]
    introduces_self: bool


_VOICES = (
    _Voice(
        openers=("Hello.", "Good morning.", "Good afternoon.", "Dear assistant,", ""),
        asks=("Could you please {goal}?", "I would like you to {goal}.", "Would you kindly {goal}?", "Please {goal}."),
        follow_ups=("Thank you. Now", "Thank you for that. Next,", "Many thanks. Additionally,", "Thank you. Also,"),
        closers=("Thank you.", "Many thanks in advance.", "Kind regards.", ""),
        introduces_self=True,
    ),
    _Voice(
        openers=("Hey!", "Hi there,", "Hi!", "Hey,", ""),
        asks=("can you {goal}?", "I need you to {goal}.", "please {goal}.", "{goal}, please.", "could you {goal} for me?"),
        follow_ups=("Thanks! Now", "Great, thanks. Also,", "Cool. Next,", "Awesome, and one more thing:", "Perfect. Now"),
        closers=("Thanks!", "Cheers!", "Thanks a lot!", "", ""),
        introduces_self=False,
    ),
    _Voice(
        openers=("",),
        asks=("{goal}.", "Please {goal}.", "Need you to {goal}.", "I want to {goal}."),
        follow_ups=("Now", "Next:", "Also,", "Then,", "Next,"),
        closers=("",),
        introduces_self=False,
    ),
)


def _voice_of(persona: str) -> _Voice:
    return _VOICES[zlib.crc32(persona.encode()) % len(_VOICES)]


def _persona_name(persona: str) -> str | None:
    """The person's name from ``"Jane Doe, nurse at ..."``, when the persona starts with one."""
    name = persona.split(",", 1)[0].strip()
    return name if re.fullmatch(r"[A-Z][A-Za-z'.-]*(?: [A-Z][A-Za-z'.-]*){0,3}", name) else None


# --- Goals and mentions -------------------------------------------------------------------------------

# Context sentences carrying the hidden calls' values without saying what those calls do.
_CONTEXT_TRAILING = ("It's the one {ms}.", "I mean the one {ms}.", "This is about the one {ms}.", "The one I mean is {ms}.")
_CONTEXT_LEADING = ("About the one {ms}:", "Regarding the one {ms}.", "So, the one {ms}.")
# Sentence plans: the voice's own ask (imperative or question), a first-person need, the scene set
# first, or the bare goals.
_SENTENCE_PLANS = {"ask": 0.5, "need": 0.2, "context_first": 0.15, "terse": 0.15}
_NEEDS = ("I need to {goal}.", "I'd like to {goal}.", "I want to {goal}.", "I have to {goal}.")
_SITUATIONS = (
    "Quick question about my {nouns}.",
    "I'm sorting out my {nouns} today.",
    "It's about my {noun}.",
    "Something came up with my {nouns}.",
)
_TWO_GOALS = ("{a}, then {b}", "{a} and then {b}", "{a}, and after that {b}", "first {a}, then {b}")
_MORE_GOALS = ("first {a}, then {b}, and finally {c}", "{a}, then {b}, then {c}")
# Where the hidden calls' values go: a sentence after the goals, inside a goal's clause, or a sentence
# before the goals. Users do set the scene first sometimes; the ordering rule then refuses the request.
_LAYOUT_WEIGHTS = {"trailing": 0.5, "inline": 0.42, "leading": 0.08}
_USABLE_DESCRIPTION = re.compile(r"[A-Za-z][A-Za-z ,'-]{2,80}")


# Words of a number's parameter that are no unit of it ("500 bytes" but not "3 priorities").
_NO_UNIT = frozenset(
    "id ids number num count amount size limit page level priority rating score year age quantity qty index "
    "offset version code value total percent percentage max min minimum maximum rank position order sort".split()
)


@dataclass(frozen=True)
class _Mention:
    """One literal argument the request must carry: its value and what the value is to the person
    (the words and roles of its parameter, never said as a label)."""

    words: tuple[str, ...]
    value: Any
    schema: Mapping[str, Any]
    action: str = "other"  # of the call's tool (parse_tool_name): a list filters, an update sets

    def render(self, rng: random.Random, *, about_one: bool = False) -> str:
        """The value in a phrase a person would write: "in "Lisbon"", "from 2026-05-03", "under 80 dollars".
        ``about_one``: the phrase describes the one thing meant ("the one among the first five")."""
        value, words = self.value, self.words
        if isinstance(value, bool):  # "only available ones", "not internal": never a switch
            return rng.choice(boolean_phrases(words)[value])
        is_choice = any("enum" in option for option in (self.schema, *self.schema.get("anyOf", ()), *self.schema.get("oneOf", ())))
        written = render_value(spoken_choice(value) if is_choice and isinstance(value, str) else value)
        if isinstance(value, dict) or is_record(value):
            return f"with {written}"
        roles = set(value_roles(words))
        scalar = value[0] if isinstance(value, (list, tuple)) and value else value
        shape = value_shape(value_text(scalar))
        if shape == "date" and not isinstance(value, (list, tuple)) and rng.random() < 0.6:
            written = spelled_date(value_text(value))  # "May 3, 2026", as people write a day
        if shape in ("date", "datetime"):
            if "start" in roles:
                return rng.choice(("from {v}", "starting {v}")).format(v=written)
            if "end" in roles:
                return rng.choice(("until {v}", "through {v}", "by {v}")).format(v=written)
            return rng.choice(("on {v}", "for {v}", "dated {v}")).format(v=written)
        if shape == "time":
            if "start" in roles:
                return rng.choice(("from {v}", "after {v}")).format(v=written)
            if "end" in roles:
                return rng.choice(("until {v}", "before {v}")).format(v=written)
            return f"at {written}"
        if shape == "email" and "copy" in roles:
            return rng.choice(dict(_TEXT_FRAMES)["copy"]).format(v=written)
        if shape == "email":
            return rng.choice(("for {v}", "to {v}")).format(v=written)
        if shape == "url":
            return rng.choice(("at {v}", "from {v}")).format(v=written)
        if isinstance(scalar, (int, float)):
            return self._number(written, scalar, roles, rng, about_one)
        if is_choice:  # a choice is said the way the object is: "cancel it because "no longer needed""
            if "reason" in roles:
                return f"because {written}"
            if self.action == "update":
                return f"to {written}"
            if words[-1] in _KIND_WORDS:
                return f"of the {written} {words[-1]}"
            return rng.choice(("marked {v}",) if self.action == "list" else ("marked {v}", "as {v}")).format(v=written)
        if is_identifier_param("_".join(words)) and len(words) > 1:  # "order ORD-1", from a confirmation
            return f"for {' '.join(words[:-1])} {written}"
        if set(words) & _DESTINATIONS:
            return rng.choice(("to {v}", "into {v}")).format(v=written)
        for role, frames in _TEXT_FRAMES:
            if role in roles:
                return rng.choice(frames).format(v=written)
        noun = words[-1]
        return rng.choice((f"with the {noun} {{v}}", f"for the {noun} {{v}}")).format(v=written)

    def _number(self, written: str, number: float, roles: set[str], rng: random.Random, about_one: bool = False) -> str:
        """"under 80 dollars", "at least 500 bytes", "up to 10 results", "for 3 guests", "a priority of 2"."""
        words = self.words
        if "money" in roles:
            amount = f"{written} {'dollar' if number == 1 else 'dollars'}"  # "$80" would read as a $k reference
            if "maximum" in roles:
                return rng.choice(("under {v}", "at most {v}", "no more than {v}")).format(v=amount)
            if "minimum" in roles:
                return rng.choice(("at least {v}", "over {v}")).format(v=amount)
            return rng.choice(("for {v}", "of {v}")).format(v=amount)
        noun = words[-1]
        if noun not in _NO_UNIT and noun.isalpha() and len(noun) > 2:
            unit = singularize(noun) if number == 1 else pluralize(singularize(noun))
            counted = f"{written} {unit}"
            if "maximum" in roles:
                return rng.choice(("up to {v}", "at most {v}")).format(v=counted)
            if "minimum" in roles:
                return rng.choice(("at least {v}", "more than {v}")).format(v=counted)
            return rng.choice(("for {v}", "with {v}")).format(v=counted)
        if "maximum" in roles:  # how many to show: "just the first one", "only the five newest"
            if number == 1:
                return _THE_NEWEST if about_one else rng.choice(("just the first one", "only the latest one"))
            if isinstance(number, int) and number < len(NUMBER_WORDS):
                spelled = NUMBER_WORDS[number]
                if about_one:
                    return rng.choice((f"among the first {spelled}", f"among the {spelled} newest"))
                return rng.choice((f"only the {spelled} newest", f"just the first {spelled}", f"the top {spelled}"))
            return rng.choice(("no more than {v}", "at most {v}")).format(v=written)
        if "minimum" in roles:
            return f"at least {written}"
        if noun == "page":
            return f"page {written}"
        return f"{_article(noun)} {noun} of {written}"


_DESTINATIONS = frozenset({"destination", "dest", "target"})
_THE_NEWEST = "the newest one"  # the one thing meant, from a list of one: "I mean the newest one"
# Choices that sort an object into a kind: "of the "meeting" type".
_KIND_WORDS = frozenset({"type", "kind", "category", "genre", "format"})
# What free text is to the person, by the role of its parameter (lexicon.VALUE_ROLES), first match wins.
_TEXT_FRAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("surname", ("surname {v}",)),
    ("given", ("named {v}",)),
    ("title", ("titled {v}",)),
    ("replacement", ("to {v}",)),
    ("copy", ("cc'ing {v}", "with a cc to {v}")),
    ("name", ("called {v}", "named {v}")),
    ("message", ("saying {v}", "that says {v}")),
    ("search", ("matching {v}", "about {v}")),
    ("reason", ("because {v}",)),
    ("folder", ("in {v}",)),
    ("place", ("in {v}", "near {v}")),
    ("person", ("for {v}",)),
)


def _referent(param: str, path: str) -> str | None:
    """What a value from an earlier turn stands for: ``order_id`` -> order, ``customer.email`` -> customer."""
    words = words_of(param)
    if len(words) > 1 and words[-1] in ("id", "number", "code", "reference"):
        return " ".join(words[:-1])
    steps = [step.split("[")[0] for step in path.split(".")]
    return " ".join(words_of(singularize(steps[-2]))) if len(steps) > 1 else None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _description_goal(tool: ToolView, verbs: Iterable[str]) -> str | None:
    """The description's first sentence as the goal, when it is short plain prose led by a known verb."""
    first = tool.description.strip().split(".", 1)[0].strip()
    words = first.lower().split()
    if not _USABLE_DESCRIPTION.fullmatch(first) or not 2 <= len(words) <= 10 or words[0] not in verbs:
        return None
    if re.search(r"\b(?:e|i|etc|vs|approx)$", first, re.IGNORECASE):  # cut at "e.g.": no sentence
        return None
    if any(is_identifier_like(word) for word in first.split()):
        return None
    if re.search(r"\bthe\s+user\b", first, re.IGNORECASE):  # a spec's narrator ("an event the user organizes"), not the person asking
        return None
    return first[0].lower() + first[1:]


def _acting(tool: ToolView) -> tuple[str, str, tuple[str, ...]] | None:
    """A write named verb-preposition-object (``reply_to_ticket``), see :func:`acting_phrase`."""
    return acting_phrase(tool.name) if not tool.read_only and parse_tool_name(tool.name).verb is None else None


def _object_words(tool: ToolView) -> tuple[str, ...]:
    """What a call acts on: the ticket of ``reply_to_ticket``, the order of ``cancel_order``."""
    acting = _acting(tool)
    return acting[2] if acting else parse_tool_name(tool.name).entity


def _goal_phrase(tool: ToolView, rng: random.Random, *, earlier_object: bool) -> str:
    """Verb + object from the tool's name (``cancel_order`` -> "cancel my order"), sometimes its description.

    ``earlier_object``: the call acts on something from an earlier turn, so it is "that order".
    """
    name = parse_tool_name(tool.name)
    acting = _acting(tool)
    if acting is not None:  # "reply to my ticket", never "pull up my reply"
        verb, preposition, noun = acting
        return f"{verb} {preposition} {rng.choice(('that', 'the same') if earlier_object else ('my', 'the'))} {' '.join(noun)}"
    stand_ins = ACTION_SYNONYMS.get(name.action, ())
    own = (name.verb,) if name.verb else ()
    if not earlier_object and rng.random() < 0.2:
        described = _description_goal(tool, {*own, *stand_ins})
        if described:
            return described
    if own and (not stand_ins or name.action not in ("get", "list") or rng.random() < 0.5):
        verb = own[0]
    else:
        verb = rng.choice(stand_ins or ("handle",))
    if not name.entity:
        return verb
    entity = list(name.entity)
    if name.collection:
        entity[-1] = pluralize(entity[-1])
    noun = " ".join(entity)
    if earlier_object:
        determiner = rng.choice(("that", "the same"))
    elif name.action == "create":
        determiner = rng.choice((_article(noun), "a new"))
    elif name.collection:
        determiner = rng.choice(("my", "all my", "the"))
    else:
        determiner = rng.choice(("my", "the"))
    if name.view:
        view = " ".join(name.view)
        obj = rng.choice((f"the {view} of {determiner} {noun}", f"{determiner} {noun} {view}"))
    else:
        obj = f"{determiner} {noun}"
    return f"{verb} {obj}"


# --- The writer ---------------------------------------------------------------------------------------


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _after(prefix: str, sentence: str) -> str:
    """``prefix`` then ``sentence``, the sentence lower-cased at its start unless the prefix ended one."""
    if not prefix:
        return _capitalize(sentence)
    if prefix[-1] in ".!?" or re.match(r"I\b", sentence):
        return f"{prefix} {_capitalize(sentence)}"
    return f"{prefix} {sentence[:1].lower()}{sentence[1:]}"


class _RequestWriter:
    """One request: goal clauses for the explicit calls, the hidden calls' values in a layout, a voice."""

    def __init__(self, request: WriteRequestRequest, rng: random.Random):
        self.scenario = request.scenario
        self.plan = request.plan
        self.rng = rng
        self.later_turn = bool(request.earlier_requests)
        self.voice = _voice_of(self.scenario.persona)
        self.tools = {tool.name: tool for tool in self.scenario.tools}
        self.refs = {call.ref for call in self.plan.calls}
        # Only producers can be hidden (method step 3), so the sinks always leave a goal to state.
        consumed = {producer for call in self.plan.calls for producer, _ in call.references().values()}
        self.hidden = set(self.plan.hidden) & consumed

    def _mentions(self, call: PlannedCall) -> list[_Mention]:
        properties = self.tools[call.tool].parameters.get("properties", {})
        action = parse_tool_name(call.tool).action
        return [
            _Mention(tuple(words_of(param)), value, properties.get(param, {}) if isinstance(properties, Mapping) else {}, action)
            for param, value in call.literals().items()
            if is_mentionable(value) or isinstance(value, bool) or is_record(value)
        ]

    def write(self) -> str:
        calls = self.plan.calls
        explicit = [call for call in calls if call.ref not in self.hidden]
        hidden_mentions = [m for call in calls if call.ref in self.hidden for m in self._mentions(call)]
        layout = self.rng.choices(list(_LAYOUT_WEIGHTS), weights=list(_LAYOUT_WEIGHTS.values()))[0]
        extra_by_goal: dict[str, list[_Mention]] = {}
        if hidden_mentions and layout == "inline":
            extra_by_goal[self._host(explicit).ref] = hidden_mentions
        clauses = [self._clause(call, extra_by_goal.get(call.ref, [])) for call in explicit]
        sentence_plan = self.rng.choices(list(_SENTENCE_PLANS), weights=list(_SENTENCE_PLANS.values()))[0]
        goal = self._join_goals(clauses)
        if sentence_plan == "need":
            ask = self.rng.choice(_NEEDS).format(goal=goal)
        elif sentence_plan == "terse":
            ask = f"{goal}."
        else:
            ask = self.rng.choice(self.voice.asks).format(goal=goal)
        sentences = [ask]
        if sentence_plan == "context_first":
            sentences.insert(0, self._situation(explicit[0]))
        if hidden_mentions and not extra_by_goal:
            context = self._context(hidden_mentions, leading=layout == "leading")
            sentences = [context, *sentences] if layout == "leading" else [*sentences, context]
        return self._frame(sentences, terse=sentence_plan == "terse")

    def _situation(self, call: PlannedCall) -> str:
        """A first sentence that sets the scene from the goal's object ("It's about my orders.")."""
        entity = " ".join(_object_words(self.tools[call.tool])) or "account"
        plural = pluralize(entity.split()[-1])
        return self.rng.choice(_SITUATIONS).format(noun=entity, nouns=" ".join([*entity.split()[:-1], plural]))

    def _host(self, explicit: list[PlannedCall]) -> PlannedCall:
        """The goal the hidden values are attached to: the first explicit consumer of a hidden call,
        unless its values would then all come before the explicit ones (the last goal with values)."""
        consumers = [c for c in explicit if any(p in self.hidden for p, _ in c.references().values())]
        host = consumers[0] if consumers else explicit[0]
        with_values = [c for c in explicit if self._mentions(c)]
        if with_values and not self._mentions(host) and explicit.index(with_values[-1]) > explicit.index(host):
            return with_values[-1]
        return host

    def _clause(self, call: PlannedCall, extra: list[_Mention]) -> str:
        """The goal of one explicit call with its values; "that order" when it acts on an earlier turn's object."""
        referents = [
            _referent(param, path) for param, (producer, path) in call.references().items() if producer not in self.refs
        ]
        entity = " ".join(_object_words(self.tools[call.tool]))
        earlier_object = entity in referents
        goal = _goal_phrase(self.tools[call.tool], self.rng, earlier_object=earlier_object)
        other = next((noun for noun in referents if noun and noun != entity), None)
        if other and not earlier_object:
            goal += f" for {self.rng.choice(('that', 'the same'))} {other}"
        mentions = [m.render(self.rng) for m in self._mentions(call)]
        mentions += [f"for {text}" if text == _THE_NEWEST else text for text in (m.render(self.rng, about_one=True) for m in extra)]
        return f"{goal} {', '.join(mentions)}" if mentions else goal

    def _join_goals(self, clauses: list[str]) -> str:
        if len(clauses) == 1:
            return clauses[0]
        if len(clauses) == 2:
            return self.rng.choice(_TWO_GOALS).format(a=clauses[0], b=clauses[1])
        head = self.rng.choice(_MORE_GOALS)
        return head.format(a=clauses[0], b=", then ".join(clauses[1:-1]), c=clauses[-1])

    def _context(self, mentions: list[_Mention], leading: bool) -> str:
        """The hidden calls' values in a sentence of their own, before or after the goals."""
        template = self.rng.choice(_CONTEXT_LEADING if leading else _CONTEXT_TRAILING)
        said = ", ".join(m.render(self.rng, about_one=True) for m in mentions)
        if said.startswith(_THE_NEWEST):  # "I mean the newest one", not "the one the newest one"
            template = template.replace("the one {ms}", "{ms}")
        return template.format(ms=said)

    def _frame(self, sentences: list[str], *, terse: bool = False) -> str:
        """Opener or continuity phrase, the sentences, a closer: the persona's voice around the content.
        A terse request is the content alone."""
        if terse:
            return " ".join(_capitalize(sentence) for sentence in sentences)
        voice, rng = self.voice, self.rng
        name = _persona_name(self.scenario.persona)
        if self.later_turn:
            first = _after(rng.choice(voice.follow_ups), sentences[0])
        else:
            opener = rng.choice(voice.openers)
            if name and voice.introduces_self and rng.random() < 0.3:
                opener = _after(opener, f"This is {name}.")
            first = _after(opener, sentences[0])
        parts = [first, *(_capitalize(s) for s in sentences[1:])]
        closer = rng.choice(voice.closers)
        if closer:
            parts.append(closer)
        return " ".join(parts)


def write_request_offline(request: WriteRequestRequest, rng: random.Random) -> WriteRequestResponse:
    """Step 4 in the offline default: state the explicit goals, carry every literal value, describe
    no hidden call; the phrasing (voice, layout, connectors, cue phrases) is drawn from ``rng``."""
    return WriteRequestResponse(request=_RequestWriter(request, rng).write())


