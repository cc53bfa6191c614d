"""Stateful search: conversations made by an agent that acts in an executable environment.

The agent knows the request text, the literal values in it and the tool specs, nothing else. It
searches greedily best-first over schema-valid calls and executes each one for real (writes on a
fork of the state). Candidate arguments come from the literals and from values seen in earlier
outputs, matched by parameter name; values that sit in the same output record as a literal rank
higher, which is how the agent discovers the id of "the order I placed on May 3rd". Tools are
ranked by how close they are, in the tool data-flow graph, to a write tool the request asks for.

The goal's oracle is consulted as a black box after each executed write: it says whether the goal
holds, how much of it holds, and whether the branch changed something it must not (then the
branch is abandoned, as a wrong irreversible action cannot be undone). Refused calls stay in the
branch's transcript: the agent saw the error and moved on, which is the recovery the record keeps.

One idea, so one module of more than 500 lines: the agent's search and the conversation loop
that hands it goals and records its turns are tuned together.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from jsonschema import Draft202012Validator, FormatChecker

from digit_assets.engine.baselines.environments import Environment, load_environment
from digit_assets.engine.baselines.environments.base import State, Tool
from digit_assets.engine.baselines.goals import GOALS, Goal, GoalSampler, Literal, Persona, Task
from digit_assets.engine.baselines.goals.core import Oracle, Scalar
from digit_assets.engine.lexicon import singular, text_words
from digit_assets.engine.provenance import derive_seed
from digit_assets.engine.records import ConversationRecord
from digit_assets.engine.schema_refs import refusing_registry
from digit_assets.engine.specs import Rejection

VARIANT = "stateful_search"
TURN_WEIGHTS = (3, 4, 2, 1)  # how often a conversation has 1, 2, 3 or 4 turns
RECORD_BASE = 0.3  # salience of a value seen in an output record that mentions no literal
RECORD_STEP = 0.35  # added per literal the record mentions
STRONG = 0.9  # an optional parameter is filled only with a value this salient
GROUNDED = 0.5  # a write is tried only when every argument is at least this salient
KNOWN = 0.6  # a required parameter counts as known once a value this salient is at hand
INFORMATION_BONUS = 0.3  # for a read whose output carries a parameter a requested write still lacks
NARROWING_BONUS = 0.15  # per stated value among the arguments of the call that produced a record
GUESS = 0.05  # salience of an enum value the request does not mention
DECAY = 0.8  # usefulness lost per data-flow hop between a read tool and a requested write
DEPTH_BONUS = 0.3  # keeps the search on its current line instead of hopping between siblings
PROGRESS_WEIGHT = 1.0
EARLIER_TURN_DECAY = 0.1  # values seen in an earlier turn are a little less salient than fresh ones
REPEAT_PENALTY = 0.25  # per earlier success of the same tool in this turn
REFUSED_PENALTY = 0.6  # per earlier refusal of the very same call
CAUTION_PENALTY = 0.3  # per earlier refusal of the same tool on this line: look around before retrying
REPEAT_CALL_PENALTY = 0.5  # per earlier success of the very same call (the answer is known already)

_SUFFIXES = ("ing", "ed", "s")


def stem(word: str) -> str:
    """Crude suffix stripping, enough for 'ordered'~'order', 'needed'~'need', 'tagged'~'tag'."""
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) >= 3:
                word, changed = word[: -len(suffix)], True
                break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "ls":
        word = word[:-1]
    return word


def stems(text: str) -> frozenset[str]:
    return frozenset(stem(word) for word in text_words(text))


def normalize(value: Scalar) -> str:
    """How a value is compared with the user's words: case, underscores and spacing do not matter."""
    return " ".join(text_words(str(value)))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Observation:
    """One record of a tool output as flat (field, value) pairs.

    ``distinctive`` holds the normalized values that tell this record apart from its siblings in
    the same list: a value every sibling shares (the directory of a listing, the route of a flight
    search) says nothing about which of them the user means.
    """

    pairs: tuple[tuple[str, Scalar], ...]
    distinctive: frozenset[str]
    bonus: float = 0.0  # records answering a query narrowed by the user's values are more relevant
    siblings: tuple[int, int] | None = None  # (output, list) the record competes in, when it has siblings


def observe(output: Any, bonus: float = 0.0, origin: int = 0) -> list[Observation]:
    """Every object in an output becomes a record; lists of scalars give their items a singular name.

    ``origin`` tells this output's records apart from other outputs' (the index of its first record).
    """
    records: list[Observation] = []
    lists = itertools.count()

    def flat(node: dict[str, Any]) -> list[tuple[str, Scalar]]:
        pairs: list[tuple[str, Scalar]] = []
        for key, value in node.items():
            if _is_scalar(value):
                pairs.append((key, value))
            elif isinstance(value, list):
                pairs += [(singular(key), item) for item in value if _is_scalar(item)]
        return pairs

    def walk(node: Any, shared: frozenset[str], group: tuple[int, int] | None) -> None:
        if isinstance(node, list):
            objects = [item for item in node if isinstance(item, dict)]
            values = [frozenset(normalize(v) for _, v in flat(item)) for item in objects]
            common = frozenset.intersection(*values) if len(values) > 1 else frozenset()
            siblings = (origin, next(lists)) if len(values) > 1 else None
            for item in node:
                walk(item, common, siblings)
        elif isinstance(node, dict):
            pairs = flat(node)
            if pairs:
                records.append(Observation(tuple(pairs), frozenset(normalize(v) for _, v in pairs) - shared, bonus, group))
            for value in node.values():
                if isinstance(value, dict):
                    walk(value, frozenset(), None)
                elif isinstance(value, list):
                    walk([item for item in value if not _is_scalar(item)], frozenset(), None)

    walk(output, frozenset(), None)
    return records


@dataclass(frozen=True)
class Step:
    """One executed call of the final transcript, with the real tool answer."""

    tool: str
    arguments: dict[str, Any]
    content: str
    failed: bool
    writes: bool
    output: dict[str, Any] | None


@dataclass(frozen=True)
class SearchSettings:
    search_budget: int = 60  # calls executed per turn, abandoned branches included
    noise: float = 0.15  # spread of the jitter on call scores: how often a worse call is tried first
    values_per_parameter: int = 4
    calls_per_tool: int = 8


@dataclass
class TurnOutcome:
    solved: bool
    reason: str
    steps: list[Step]
    state: State
    observations: tuple[Observation, ...]
    executed: int
    abandoned: int
    done: Counter[str]  # call key -> successes in the conversation so far


@dataclass
class _Node:
    state: State
    observations: tuple[Observation, ...]
    steps: list[Step]
    progress: float
    tried: set[str] = field(default_factory=set)  # calls executed on this very state
    successes: Counter[str] = field(default_factory=Counter)  # tool -> successful calls this turn
    refused: Counter[str] = field(default_factory=Counter)  # call key and tool name -> refusals on this line
    done: Counter[str] = field(default_factory=Counter)  # call key -> successes in this conversation
    candidates: list[tuple[float, str, str, dict[str, Any]]] | None = None  # (score, key, tool, args), best last


def _call_key(tool: str, arguments: dict[str, Any]) -> str:
    return tool + json.dumps(arguments, sort_keys=True)


class Agent:
    """Search over one environment's tools; holds what does not change between turns (graph, validators)."""

    def __init__(self, env: Environment, settings: SearchSettings):
        self.env = env
        self.settings = settings
        self.graph = dataflow_graph(env.tools.values())
        self.distance = {source: dict(lengths) for source, lengths in nx.all_pairs_shortest_path_length(self.graph)}
        self.needs = {tool.name: _required_leaves(tool.input_schema) for tool in env.tools.values()}
        self.produces = {tool.name: _field_names(tool.output_schema) for tool in env.tools.values()}
        self._validators: dict[int, Draft202012Validator] = {}
        self._fits: dict[tuple[int, str, Scalar], bool] = {}
        self._valid_calls: dict[str, bool] = {}

    # --- what the request asks for -------------------------------------------------------------

    def usefulness(self, request: str) -> dict[str, float]:
        """Requested writes (their verb is in the request) score by name overlap; reads by data-flow distance to them.

        Writes the request does not ask for are left out: an agent does not place an order when
        asked to cancel one.
        """
        words = stems(request)
        targets = {}
        for tool in self.env.tools.values():
            tokens = [stem(token) for token in tool.name.split("_")]
            if tool.writes and tokens[0] in words:
                targets[tool.name] = 0.8 + 0.2 * sum(t in words for t in tokens[1:]) / max(1, len(tokens) - 1)
        scores = dict(targets)
        for tool in self.env.tools.values():
            if not tool.writes:
                reach = [rel * DECAY ** self.distance[tool.name][w] for w, rel in targets.items() if w in self.distance[tool.name]]
                scores[tool.name] = max(reach, default=0.2)
        return scores

    # --- candidate calls -----------------------------------------------------------------------

    def _value_fits(self, schema: dict[str, Any], value: Scalar) -> bool:
        key = (id(schema), type(value).__name__, value)
        fits = self._fits.get(key)
        if fits is None:
            validator = self._validators.get(id(schema))
            if validator is None:
                validator = self._validators[id(schema)] = Draft202012Validator(
                    schema, format_checker=FormatChecker(), registry=refusing_registry()
                )
            fits = self._fits[key] = validator.is_valid(value)
        return fits

    def _values(
        self, name: str, schema: dict[str, Any], slots: dict[str, dict[Scalar, float]], stated: dict[str, dict[Scalar, float]], words: frozenset[str]
    ) -> list[tuple[Any, float]]:
        """Values for one parameter, most salient first; an enum value counts when the user's words mention it."""
        limit = self.settings.values_per_parameter
        if "enum" in schema:
            said = stated.get(name, {})
            scored = [(value, max(_overlap(stems(str(value)), words), said.get(value, 0.0))) for value in schema["enum"]]
            mentioned = [item for item in scored if item[1] > 0]
            return sorted(mentioned, key=lambda item: -item[1]) if mentioned else [(value, GUESS) for value, _ in scored]
        kind = schema.get("type")
        if kind == "array":
            return [([value], salience) for value, salience in self._values(singular(name), schema["items"], slots, stated, words)]
        if kind == "object":
            required = schema.get("required", [])
            options = [self._values(p, schema["properties"][p], slots, stated, words)[:2] for p in required]
            if not all(options):
                return []
            combos = [(dict(zip(required, (v for v, _ in combo))), _mean(s for _, s in combo)) for combo in itertools.product(*options)]
            return sorted(combos, key=lambda item: -item[1])[:limit]
        known = [(value, salience) for value, salience in slots.get(name, {}).items() if self._value_fits(schema, value)]
        return sorted(known, key=lambda item: (-item[1], str(item[0])))[:limit]

    def _calls(
        self, tool: Tool, slots: dict[str, dict[Scalar, float]], stated: dict[str, dict[Scalar, float]], words: frozenset[str]
    ) -> list[tuple[dict[str, Any], float, float, int]]:
        """(arguments, mean salience, least salience, optional parameters filled) of the valid calls worth trying.

        Optional parameters (filters) are filled only from what the user stated, never from outputs.
        """
        schema = tool.input_schema
        required = schema.get("required", [])
        options = [self._values(p, schema["properties"][p], slots, stated, words) for p in required]
        if not all(options):
            return []
        strong = {}
        for name, prop in schema["properties"].items():
            if name not in required:
                values = [item for item in self._values(name, prop, stated, stated, words) if item[1] >= STRONG]
                if values:
                    strong[name] = values
        extras = [{}] + [{name: value} for name, values in strong.items() for value in values]
        if len(strong) > 1:
            best = {name: values[0] for name, values in strong.items()}
            extras.append(best)
            if len(strong) > 2:
                extras += [{n: v for n, v in best.items() if n != left_out} for left_out in best]
        calls = []
        for combo in itertools.islice(itertools.product(*options), 64):
            base = dict(zip(required, (value for value, _ in combo)))
            for extra in extras:
                arguments = {**base, **{name: value for name, (value, _) in extra.items()}}
                if not arguments and schema["properties"]:
                    continue
                saliences = [s for _, s in combo] + [s for _, s in extra.values()]
                if self._valid(tool.name, arguments):
                    if saliences:
                        calls.append((arguments, _mean(saliences), min(saliences), len(extra)))
                    else:
                        calls.append((arguments, 0.5, 0.5, 0))
        calls.sort(key=lambda item: (-item[1], -item[3]))
        return calls[: self.settings.calls_per_tool]

    def _valid(self, tool: str, arguments: dict[str, Any]) -> bool:
        key = _call_key(tool, arguments)
        valid = self._valid_calls.get(key)
        if valid is None:
            valid = self._valid_calls[key] = not self.env.argument_problems(tool, arguments)
        return valid

    # --- one turn ------------------------------------------------------------------------------

    def solve(
        self,
        state: State,
        task: Task,
        oracle: Oracle,
        known: tuple[Observation, ...],
        rng: random.Random,
        done: Counter[str] | None = None,
    ) -> TurnOutcome:
        """Search until the oracle says the goal holds, the budget is spent or no call is left."""
        usefulness = self.usefulness(task.request)
        words = stems(task.request)
        literals = task.speaker + task.literals
        wanted = frozenset(normalize(lit.value) for lit in literals if isinstance(lit.value, str))
        stated_values = frozenset(normalize(lit.value) for lit in literals)
        # A literal describes the entity sought unless it fills a parameter of the requested action
        # itself ('add the tag X': X says what to do, not which files to pick).
        action_parameters = set().union(*(_field_names(self.env.tools[name].input_schema) for name in usefulness if self.env.tools[name].writes))
        described: dict[str, tuple[Scalar, ...]] = {}
        for literal in task.literals:
            for slot in literal.slots:
                if slot not in action_parameters:
                    described[slot] = (*described.get(slot, ()), literal.value)
        jitter: dict[str, float] = {}
        root = _Node(state, known, [], oracle(state).progress, done=Counter(done))
        frontier: list[tuple[float, int, _Node]] = []
        serial = itertools.count()
        executed = abandoned = 0
        best = root

        def push(node: _Node) -> None:
            if node.candidates is None:
                node.candidates = self._rank(node, literals, wanted, described, words, usefulness, jitter, rng, len(known))
            if node.candidates:
                priority = node.candidates[-1][0] + DEPTH_BONUS * len(node.steps) + PROGRESS_WEIGHT * node.progress
                heapq.heappush(frontier, (-priority, -next(serial), node))

        push(root)
        while frontier and executed < self.settings.search_budget:
            node = heapq.heappop(frontier)[2]
            _, key, name, arguments = node.candidates.pop()
            node.tried.add(key)
            executed += 1
            tool = self.env.tools[name]
            result = self.env.call(node.state, name, arguments)
            if result.error is not None:
                node.steps = [*node.steps, Step(name, arguments, result.content, True, tool.writes, None)]
                node.refused.update((key, name))
                node.candidates = None  # re-rank: the refusal makes the agent wary of this tool
                push(node)
                continue
            push(node)
            step = Step(name, arguments, result.content, False, tool.writes, result.output)
            child = _Node(
                result.state,
                node.observations + tuple(observe(result.output, _narrowing(arguments, stated_values), len(node.observations))),
                [*node.steps, step],
                node.progress,
                tried=set() if tool.writes else set(node.tried),
                successes=node.successes + Counter({name: 1}),
                refused=Counter(node.refused),
                done=node.done + Counter({key: 1}),
            )
            if tool.writes:
                verdict = oracle(result.state)
                if verdict.violated:
                    abandoned += 1
                    continue
                if verdict.done:
                    return TurnOutcome(True, "goal reached", child.steps, child.state, child.observations, executed, abandoned, child.done)
                child.progress = verdict.progress
            best = child if child.progress > best.progress else best
            push(child)
        reason = (
            f"search budget of {self.settings.search_budget} calls exhausted" if frontier else f"no untried valid call left after {executed} calls"
        )
        return TurnOutcome(False, f"{reason}; best progress {best.progress:.0%}", best.steps, state, known, executed, abandoned, root.done)

    def _rank(
        self,
        node: _Node,
        literals: tuple[Literal, ...],
        wanted: frozenset[str],
        described: dict[str, tuple[Scalar, ...]],
        words: frozenset[str],
        usefulness: dict[str, float],
        jitter: dict[str, float],
        rng: random.Random,
        earlier: int,
    ) -> list[tuple[float, str, str, dict[str, Any]]]:
        """The node's untried calls, worst first (so the best pops from the end)."""
        slots = _slots(node.observations, literals, wanted, described, earlier)
        stated = _slots((), literals, wanted, described)
        missing = {
            param
            for name in usefulness
            if self.env.tools[name].writes
            for param in self.needs[name]
            if max(slots.get(param, {}).values(), default=0.0) < KNOWN
        }
        ranked = []
        for name, worth in usefulness.items():
            tool = self.env.tools[name]
            informative = not tool.writes and bool(self.produces[name] & missing)
            for arguments, salience, least, optional in self._calls(tool, slots, stated, words):
                key = _call_key(name, arguments)
                if key in node.tried or (tool.writes and least < GROUNDED):
                    continue
                if key not in jitter:
                    jitter[key] = rng.gauss(0.0, self.settings.noise)
                score = (
                    worth
                    + salience
                    + INFORMATION_BONUS * informative
                    + 0.1 * optional
                    - REPEAT_PENALTY * node.successes[name]
                    - REFUSED_PENALTY * node.refused[key]
                    - CAUTION_PENALTY * node.refused[name]
                    - REPEAT_CALL_PENALTY * node.done[key]
                    + jitter[key]
                )
                ranked.append((score, key, name, arguments))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return ranked


def _slots(
    observations: tuple[Observation, ...],
    literals: tuple[Literal, ...],
    wanted: frozenset[str],
    described: dict[str, tuple[Scalar, ...]],
    earlier: int = 0,
) -> dict[str, dict[Scalar, float]]:
    """Known values per field name with their salience.

    A value from an output record is as salient as the number of literals the record mentions,
    less the fields where it says otherwise than the user did, less again for each literal a
    sibling in the same list mentions and it does not (the hotel the user named outranks the
    other hotels of the city), a little less when it was seen in an earlier turn. Where the user
    stated a value for a slot, only the stated values count: the user's words override outputs.
    """
    agreements = [len(record.distinctive & wanted) - _contradictions(record, described) for record in observations]
    best_sibling: dict[tuple[int, int], int] = {}
    for record, agreement in zip(observations, agreements):
        if record.siblings is not None:
            best_sibling[record.siblings] = max(agreement, best_sibling.get(record.siblings, agreement))
    slots: dict[str, dict[Scalar, float]] = {}
    for index, (record, agreement) in enumerate(zip(observations, agreements)):
        if record.siblings is not None:
            agreement -= best_sibling[record.siblings] - agreement
        salience = min(1.0, max(0.0, RECORD_BASE + RECORD_STEP * agreement + record.bonus))
        if index < earlier:
            salience -= EARLIER_TURN_DECAY
        salience = round(salience, 6)  # thresholds compare sums of constants: keep float noise out
        for name, value in record.pairs:
            bucket = slots.setdefault(name, {})
            if bucket.get(value, 0.0) < salience:
                bucket[value] = salience
    stated: dict[str, dict[Scalar, float]] = {}
    for literal in literals:
        for slot in literal.slots:
            stated.setdefault(slot, {})[literal.value] = 1.0
    return slots | stated


def _contradictions(record: Observation, described: dict[str, tuple[Scalar, ...]]) -> int:
    """Fields the user described with other values: a record saying otherwise is not the one meant."""
    count = 0
    for name, values in described.items():
        seen = [value for field_name, value in record.pairs if field_name == name]
        if seen and not any(_agrees(value, values) for value in seen):
            count += 1
    return count


def _agrees(value: Scalar, described: tuple[Scalar, ...]) -> bool:
    """Equal up to case and punctuation, or below it in a path ('/a/b' agrees with '/a')."""
    return any(
        normalize(value) == normalize(said) or (isinstance(value, str) and isinstance(said, str) and value.startswith(said.rstrip("/") + "/"))
        for said in described
    )


def _narrowing(arguments: dict[str, Any], stated_values: frozenset[str]) -> float:
    stated = sum(1 for value in arguments.values() if _is_scalar(value) and normalize(value) in stated_values)
    return NARROWING_BONUS * stated


def _overlap(tokens: frozenset[str], words: frozenset[str]) -> float:
    return len(tokens & words) / len(tokens) if tokens else 0.0


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def dataflow_graph(tools: Iterable[Tool]) -> nx.DiGraph:
    """An edge a -> b when a field name in a's output is a parameter name of b (ids flow along edges)."""
    tools = list(tools)
    graph = nx.DiGraph()
    graph.add_nodes_from(tool.name for tool in tools)
    produced = {tool.name: _field_names(tool.output_schema) for tool in tools}
    consumed = {tool.name: _field_names(tool.input_schema) for tool in tools}
    for source, target in itertools.permutations(tools, 2):
        shared = produced[source.name] & consumed[target.name]
        if shared:
            graph.add_edge(source.name, target.name, fields=sorted(shared))
    return graph


def _required_leaves(schema: dict[str, Any], name: str | None = None) -> set[str]:
    """Names of the required, free-valued (not enum) parameters, through nested objects and arrays."""
    kind = schema.get("type")
    if kind == "object":
        return set().union(*(_required_leaves(schema["properties"][p], p) for p in schema.get("required", [])))
    if kind == "array":
        return _required_leaves(schema.get("items", {}), singular(name) if name else None)
    return {name} if name is not None and "enum" not in schema else set()


def _field_names(schema: dict[str, Any], name: str | None = None) -> set[str]:
    names = set()
    kind = schema.get("type")
    if kind == "object":
        for prop, sub in schema.get("properties", {}).items():
            names |= _field_names(sub, prop)
    elif kind == "array":
        names |= _field_names(schema.get("items", {}), singular(name) if name else None)
    elif name is not None:
        names.add(name)
    return names


# --- conversations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One turn the search tried, solved or not (the acceptance record of the baseline)."""

    conversation_id: str
    domain: str
    turn: int
    goal: str
    request: str
    solved: bool
    reason: str
    executed_calls: int
    path_calls: int
    errors: int
    abandoned_branches: int


@dataclass
class SearchRun:
    domain: str
    records: list[ConversationRecord]
    attempts: list[Attempt]
    rejections: list[Rejection]
    seconds: float

    def summary(self) -> dict[str, Any]:
        turns = [a for a in self.attempts if a.solved]
        return {
            "domain": self.domain,
            "conversations": len(self.records),
            "turns_solved": len(turns),
            "turns_unsolved": sum(1 for a in self.attempts if not a.solved),
            "conversations_with_errors": sum(1 for r in self.records if r.n_errors()),
            "errors": sum(r.n_errors() for r in self.records),
            "recoveries": sum(r.meta["recoveries"] for r in self.records),
            "calls": sum(len(r.tool_calls()) for r in self.records),
            "executed_calls": sum(a.executed_calls for a in self.attempts),
            "seconds": round(self.seconds, 2),
        }


def generate(
    domain: str,
    *,
    conversations: int,
    seed: int,
    max_turns: int = 4,
    settings: SearchSettings = SearchSettings(),
    max_attempts: int | None = None,
    on_conversation: Callable[[bool], None] | None = None,
) -> SearchRun:
    """Conversations until ``conversations`` are solved or ``max_attempts`` (default 2x) were tried.

    Every attempt starts from the shipped seed state with its own seed derived from ``seed``,
    the domain and the attempt index, so a run is reproducible and any prefix of it is too.
    ``on_conversation`` sees whether each tried conversation was solved, e.g. for progress.
    """
    started = time.perf_counter()
    env = load_environment(domain)
    agent = Agent(env, settings)
    world = env.initial_state()
    records, attempts, rejections = [], [], []
    for index in range(max_attempts if max_attempts is not None else 2 * conversations):
        if len(records) >= conversations:
            break
        conversation_id = f"ss-{domain}-{seed}-{index:05d}"
        record, tried, rejection = _conversation(agent, world, conversation_id, derive_seed(seed, domain, index), max_turns)
        attempts += tried
        if record is not None:
            records.append(record)
        if rejection is not None:
            rejections.append(rejection)
        if on_conversation is not None:
            on_conversation(record is not None)
    return SearchRun(domain, records, attempts, rejections, time.perf_counter() - started)


def _conversation(
    agent: Agent, world: State, conversation_id: str, seed: int, max_turns: int
) -> tuple[ConversationRecord | None, list[Attempt], Rejection | None]:
    domain = agent.env.domain
    rng = random.Random(seed)
    goals = GOALS[domain]
    n_turns = rng.choices(range(1, max_turns + 1), weights=TURN_WEIGHTS[:max_turns])[0]
    for _ in range(20):
        persona = goals.persona(world, rng)
        state = world.with_context(**persona.context) if persona.context else world
        first = _sample_goal(goals.SAMPLERS, state, persona, rng)
        if first is not None:
            break
    else:
        reason = "no goal could be sampled for 20 personas"
        return None, [], Rejection(stage="stateful_search", source=domain, item=conversation_id, position="turn 1", reason=reason)
    messages: list[dict[str, Any]] = []
    turns_meta: list[dict[str, Any]] = []
    attempts: list[Attempt] = []
    known: tuple[Observation, ...] = ()
    done: Counter[str] = Counter()
    goal: Goal | None = first
    rejection = None
    for turn in range(n_turns):
        if goal is None:
            break
        request = f"{persona.intro} {goal.task.request}" if turn == 0 else goal.task.request
        task = Task(request, goal.task.literals, speaker=persona.literals)
        turn_rng = random.Random(derive_seed(seed, turn))
        outcome = agent.solve(state, task, goal.oracle, known, turn_rng, done)
        errors = sum(1 for step in outcome.steps if step.failed)
        attempts.append(
            Attempt(conversation_id, domain, turn + 1, goal.kind, request, outcome.solved, outcome.reason, outcome.executed, len(outcome.steps), errors, outcome.abandoned)
        )
        if not outcome.solved:
            rejection = Rejection(
                stage="stateful_search",
                source=domain,
                item=conversation_id,
                position=f"turn {turn + 1}",
                reason=f"{goal.kind}: {outcome.reason}",
                raw=request,
            )
            break
        messages += _turn_messages(agent.env, turn, request, outcome.steps)
        turns_meta.append(
            {
                "goal": goal.kind,
                "request": request,
                "calls": len(outcome.steps),
                "errors": errors,
                "executed_calls": outcome.executed,
                "abandoned_branches": outcome.abandoned,
            }
        )
        state, known, done = outcome.state, outcome.observations, outcome.done
        goal = _sample_goal(goals.SAMPLERS, state, persona, rng) if turn + 1 < n_turns else None
    if not turns_meta:
        return None, attempts, rejection
    tools = agent.env.openai_tools()
    rng.shuffle(tools)
    record = ConversationRecord(
        conversation_id=conversation_id,
        source="stateful_search",
        variant=VARIANT,
        domain=domain,
        messages=messages,
        tools=tools,
        meta={
            "seed": seed,
            "today": world.context["today"],
            "session": persona.context,
            "goals": [t["goal"] for t in turns_meta],
            "turns": turns_meta,
            "turns_planned": n_turns,
            **({"unsolved_turn": rejection.reason} if rejection is not None else {}),
            "recoveries": recoveries(messages),
            "discovery_calls": sum(1 for m in messages for c in m.get("tool_calls") or [] if not agent.env.tools[c["function"]["name"]].writes),
            "search": {"budget": agent.settings.search_budget, "noise": agent.settings.noise},
        },
    )
    return record, attempts, rejection


def _sample_goal(samplers: dict[str, GoalSampler], state: State, persona: Persona, rng: random.Random) -> Goal | None:
    kinds = list(samplers)
    rng.shuffle(kinds)
    for kind in kinds:
        goal = samplers[kind](state, persona, rng)
        if goal is not None:
            return goal
    return None


def _turn_messages(env: Environment, turn: int, request: str, steps: list[Step]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": request}]
    for index, step in enumerate(steps, start=1):
        call_id = f"call_{turn + 1}_{index}"
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": step.tool, "arguments": json.dumps(step.arguments, ensure_ascii=False)}}
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call_id, "name": step.tool, "content": step.content})
    messages.append({"role": "assistant", "content": closing_summary(env, steps)})
    return messages


def closing_summary(env: Environment, steps: list[Step]) -> str:
    """First person, no tool names: what changed (from each write's report) and what was refused."""
    done = [
        env.tools[step.tool].report.format_map({**step.arguments, **step.output})
        for step in steps
        if step.writes and not step.failed and env.tools[step.tool].report
    ]
    text = "Done: I " + "; I ".join(done) + "."
    refused = [step.content.removeprefix("Error: ") for step in steps if step.failed]
    if refused:
        text += f" Not everything went through on the first try ({refused[0]}), so I adjusted."
    return text


def recoveries(messages: list[dict[str, Any]]) -> int:
    """Refused calls followed, in the same turn, by a call that succeeded."""
    count, pending = 0, 0
    for message in messages:
        if message["role"] == "user":
            pending = 0
        elif message["role"] == "tool":
            if message["content"].startswith("Error"):
                pending += 1
            else:
                count, pending = count + pending, 0
    return count
