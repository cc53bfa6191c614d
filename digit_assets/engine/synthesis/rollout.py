"""One conversation end to end (method.md steps 1-11): every LLM role goes through the port, every
filter can reject, and every attempt ends accepted or rejected with the stage and the reason.

A failed turn rolls the conversation back to its last complete turn; a conversation with no
complete turn, or one the termination filters refuse, is rejected as a whole.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from digit_assets.engine.dataflow import DataflowEdge
from digit_assets.engine.enrich import EnrichedTool
from digit_assets.engine.llm import LLM, LLMError, cooperative
from digit_assets.engine.synthesis import roles
from digit_assets.engine.provenance import derive_seed
from digit_assets.engine.records import ConversationRecord, is_error_content
from digit_assets.engine.synthesis.model import ExecutedCall, Link, Scenario, ToolView, Turn, TurnPlan
from digit_assets.engine.synthesis.planning import (
    absent_removal,
    changed_later,
    choose_hidden,
    closed_object,
    ended_object,
    has_plannable_flow,
    held_values,
    hidden_call_problems,
    link_problem,
    largest_connected_plan,
    plan_problems,
    repeated_action,
    sample_scenario,
    tool_analysis,
)
from digit_assets.engine.synthesis.recovery import choose_recovery_positions, wrong_call_problems
from digit_assets.engine.synthesis.requests import request_problems
from digit_assets.engine.synthesis.simulation import (
    ReferenceResolutionError,
    argument_problems,
    consistency_problems,
    ended_before_change,
    output_problems,
    unheld_values,
    resolve_arguments,
)
from digit_assets.engine.synthesis.summaries import summary_problems
from digit_assets.engine.synthesis.verification import align_hidden, verification_problems

# Turn stages in the order a turn passes them; the funnel is reported in this order.
TURN_STAGES = ("plan", "plan_filter", "request", "back_translation", "execution", "simulation", "summary")
CONVERSATION_STAGES = ("scenario", "rollout", "termination_schema", "judge")
REASK_STAGE = "simulation_reask"
"""A simulated output refused as inconsistent and asked for again: accepted when the second answer passes."""
TURN_RETRIES = 2
"""Failed turns a conversation may drop (rolling back each time) before it stops short of its target."""


def variant_name(hidden_calls: bool, back_translation: bool) -> str:
    """DiGiT-TC hides producer calls and back-translates; each ablation drops one (or both)."""
    return {(True, True): "digit_tc", (False, True): "no_impl", (True, False): "no_bt"}.get(
        (hidden_calls, back_translation), "no_impl_no_bt"
    )


@dataclass(frozen=True)
class SynthesisSettings:
    hidden_calls: bool = True
    back_translation: bool = True
    min_turns: int = 2
    max_turns: int = 4
    min_calls: int = 2
    max_calls: int = 4
    min_tools: int = 3
    max_tools: int = 8
    # Share of turns given a wrong call (docs/recovery.md): about 5% of calls end in an error, as in
    # the stateful search.
    error_hint_rate: float = 0.13

    @property
    def variant(self) -> str:
        return variant_name(self.hidden_calls, self.back_translation)


@dataclass(frozen=True)
class Catalog:
    """The tool catalog as the roles see it, per namespace: tool views and data-flow links."""

    tools: dict[str, list[ToolView]]
    links: dict[str, list[Link]]

    @classmethod
    def build(cls, tools: Sequence[EnrichedTool], edges: Sequence[DataflowEdge]) -> "Catalog":
        views: dict[str, list[ToolView]] = {}
        for tool in tools:
            views.setdefault(tool.spec.namespace, []).append(
                ToolView(
                    name=tool.spec.name,
                    description=tool.spec.description,
                    parameters=tool.spec.parameters,
                    output_schema=tool.output_schema,
                    side_effect=tool.spec.side_effect,
                )
            )
        links: dict[str, list[Link]] = {}
        for edge in edges:
            links.setdefault(edge.namespace, []).append(
                Link(src_tool=edge.src_tool, src_field=edge.src_field, dst_tool=edge.dst_tool, dst_param=edge.dst_param)
            )
        return cls(tools=views, links=links)

    @cached_property
    def plannable_namespaces(self) -> list[str]:
        """Namespaces a scenario can be drawn from, worked out once per catalog (every conversation asks)."""
        return sorted(ns for ns in self.tools if has_plannable_flow(self.tools[ns], self.links.get(ns, [])))

    @cached_property
    def no_flow_reason(self) -> str:
        """Why no scenario can be sampled, stated with the catalog's own counts (never "no data flow"
        while edges exist)."""
        edges = sum(len(links) for links in self.links.values())
        if not edges:
            return f"the data-flow graph has no edge in any of the {len(self.tools)} namespaces"
        problems: Counter[str] = Counter()
        for namespace, links in self.links.items():
            tools = {tool.name: tool for tool in self.tools.get(namespace, [])}
            for link in links:
                if link.src_tool not in tools or link.dst_tool not in tools:
                    problems["join tools missing from the catalog"] += 1
                elif problem := link_problem(link, tools[link.src_tool], tools[link.dst_tool]):
                    problems[_problem_kind(problem)] += 1
        summary = ", ".join(f"{count} {kind}" for kind, count in problems.most_common())
        return f"none of the {edges} data-flow edges in {len(self.links)} namespaces can be planned with ({summary})"


def _problem_kind(problem: str) -> str:
    if "not in every result" in problem:
        return "read an output field that is not in every result"
    return "carry values the parameter does not accept"


@dataclass
class Event:
    """One attempt at one stage: a turn (``turn`` >= 0) or the whole conversation (``turn`` None)."""

    turn: int | None
    stage: str
    accepted: bool
    reason: str = ""


@dataclass
class Outcome:
    conversation_id: str
    variant: str
    accepted: bool
    record: ConversationRecord | None
    events: list[Event] = field(default_factory=list)
    reject_stage: str = ""
    reject_reason: str = ""


class TurnFailed(Exception):
    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


def _require(stage: str, problems: list[str]) -> None:
    if problems:
        raise TurnFailed(stage, "; ".join(problems))


class ConversationBuilder:
    """Rolls out one conversation. Randomness comes from ``seed`` only, so any shard can rebuild it."""

    def __init__(self, catalog: Catalog, llm: LLM, settings: SynthesisSettings, seed: int, conversation_id: str):
        self.catalog = catalog
        self.llm = llm
        self.settings = settings
        self.seed = seed
        self.conversation_id = conversation_id
        self.rng = random.Random(seed)
        self.events: list[Event] = []

    def _call(self, stage: str, role, request):
        try:
            return self.llm.call(role, request, seed=derive_seed(self.seed, stage, len(self.events)))
        except LLMError as exc:
            raise TurnFailed(stage, str(exc)) from exc

    def build(self) -> Outcome:
        namespaces = self.catalog.plannable_namespaces
        scenario = None
        if namespaces:
            namespace = self.rng.choice(namespaces)
            scenario = sample_scenario(
                namespace,
                self.catalog.tools[namespace],
                self.catalog.links[namespace],
                self.rng,
                min_tools=self.settings.min_tools,
                max_tools=self.settings.max_tools,
                max_calls=self.settings.max_calls,
            )
        if scenario is None:
            return self._reject("scenario", self.catalog.no_flow_reason)
        self.events.append(Event(None, "scenario", True))
        turns: list[Turn] = []
        target = self.rng.randint(self.settings.min_turns, self.settings.max_turns)
        for _ in range(target + TURN_RETRIES):
            if len(turns) == target:
                break
            index = len(turns)
            try:
                turns.append(self._turn(scenario, turns, index))
            except TurnFailed as failure:
                # Roll back to the last complete turn: the failed one is dropped and the next
                # attempt plans from the conversation as it stood.
                self.events.append(Event(index, failure.stage, False, failure.reason))
                continue
            self.events.append(Event(index, "turn", True))
        if not turns:
            failed = self.events[-1]
            return self._reject("rollout", f"no complete turn (turn 0 failed at {failed.stage}: {failed.reason})")
        self.events.append(Event(None, "rollout", True))
        record = self._record(scenario, turns)
        schema_problems = self._termination_schema_problems(scenario, turns)
        if schema_problems:
            return self._reject("termination_schema", "; ".join(schema_problems), record)
        self.events.append(Event(None, "termination_schema", True))
        executed = [call for turn in turns for call in turn.calls if call.error is None]
        try:
            verdict = self._call(
                "judge",
                roles.JUDGE_CONVERSATION,
                roles.JudgeRequest(today=scenario.today, requests=[t.user for t in turns], calls=executed),
            )
        except TurnFailed as failure:
            return self._reject("judge", failure.reason, record)
        if not verdict.accept:
            return self._reject("judge", "; ".join(verdict.problems) or "rejected without a reason", record)
        self.events.append(Event(None, "judge", True))
        return Outcome(self.conversation_id, self.settings.variant, True, record, self.events)

    def _reject(self, stage: str, reason: str, record: ConversationRecord | None = None) -> Outcome:
        self.events.append(Event(None, stage, False, reason))
        return Outcome(self.conversation_id, self.settings.variant, False, record, self.events, stage, reason)

    def _turn(self, scenario: Scenario, done: list[Turn], index: int) -> Turn:
        tools = {tool.name: tool for tool in scenario.tools}
        earlier_calls = [call for turn in done for call in turn.calls if call.error is None]
        next_ref = 1 + sum(len(turn.plan.calls) for turn in done)
        planned = self._call(
            "plan",
            roles.PLAN_TURN,
            roles.PlanTurnRequest(
                scenario=scenario,
                earlier_turns=[turn.plan for turn in done],
                earlier_calls=earlier_calls,
                next_ref=next_ref,
                min_calls=self.settings.min_calls,
                max_calls=self.settings.max_calls,
            ),
        )
        calls = largest_connected_plan(planned.calls)
        _require(
            "plan_filter",
            plan_problems(
                calls,
                scenario,
                earlier_calls,
                turn_index=index,
                min_calls=self.settings.min_calls,
                max_calls=self.settings.max_calls,
            ),
        )
        hidden = choose_hidden(calls, self.rng, tools) if self.settings.hidden_calls else []
        plan = TurnPlan(calls=calls, hidden=hidden)
        _require("plan_filter", hidden_call_problems(plan, tools))
        earlier_requests = [turn.user for turn in done]
        written = self._call(
            "request",
            roles.WRITE_REQUEST,
            roles.WriteRequestRequest(scenario=scenario, plan=plan, earlier_requests=earlier_requests),
        )
        text = written.request
        seen = [message for turn in done for message in (turn.user, turn.summary)]
        _require("request", request_problems(text, plan, scenario, seen))
        if self.settings.back_translation:
            derived = self._call(
                "back_translation",
                roles.BACK_TRANSLATE,
                roles.BackTranslateRequest(
                    tools=scenario.tools,
                    links=scenario.links,
                    earlier_requests=earlier_requests,
                    earlier_calls=earlier_calls,
                    request=text,
                    next_ref=next_ref,
                    min_calls=self.settings.min_calls,
                    max_calls=self.settings.max_calls,
                ),
            )
            _require(
                "back_translation",
                verification_problems(plan, derived.calls, text, scenario.tools, earlier_calls),
            )
            plan = align_hidden(plan, derived.calls)
            _require("back_translation", hidden_call_problems(plan, tools))
        executed = self._execute(plan, tools, earlier_calls, scenario.today, index)
        executed = self._inject_recoveries(text, scenario, executed, earlier_calls)
        summary = self._call(
            "summary",
            roles.SUMMARIZE_TURN,
            roles.SummarizeTurnRequest(request=text, calls=[c for c in executed if c.error is None]),
        ).summary
        _require(
            "summary",
            summary_problems(summary, tools, {p for t in scenario.tools for p in t.parameters.get("properties", {})}),
        )
        return Turn(user=text, plan=plan, calls=executed, summary=summary)

    def _execute(
        self, plan: TurnPlan, tools: dict[str, ToolView], earlier: list[ExecutedCall], today: str, index: int
    ) -> list[ExecutedCall]:
        """Stateless execution: substitute references from simulated outputs, re-validate, simulate."""
        by_ref = {call.ref: call for call in earlier}
        executed: list[ExecutedCall] = []
        for position, call in enumerate(plan.calls):
            tool = tools.get(call.tool)
            if tool is None:
                raise TurnFailed("execution", f"{call.ref} calls {call.tool}, which is not in the tool subset")
            try:
                arguments = resolve_arguments(call, by_ref)
            except ReferenceResolutionError as exc:
                raise TurnFailed("execution", str(exc)) from exc
            _require("execution", argument_problems(tool, arguments))
            # A plan can reach an object acted on before only through a call it makes (a list whose
            # first item was cancelled earlier); resolved, the repeat shows.
            history = earlier + executed
            again = repeated_action(call.tool, tool_analysis(tool).required, arguments, history)
            if again is not None:
                raise TurnFailed("execution", f"{call.ref} {call.tool} does again what {again.ref} {again.tool} did, with the same values")
            closed = closed_object(call.tool, arguments, history)
            if closed is not None:
                raise TurnFailed("execution", f"{call.ref} {call.tool} changes what {closed.ref} {closed.tool} ended")
            ended = ended_object(call.tool, arguments, history)
            if ended is not None:
                raise TurnFailed("execution", f"{call.ref} {call.tool} changes an object {ended[0].ref} {ended[0].tool} showed as {ended[1]}")
            absent = absent_removal(call.tool, arguments, history)
            if absent is not None:
                raise TurnFailed("execution", f"{call.ref} {call.tool} removes {absent[0]!r}, which the object does not hold ({absent[1]!r})")
            later = plan.calls[position + 1 :]
            output = self._simulate(
                roles.SimulateToolRequest(
                    tool=tool, arguments=arguments, history=history, today=today,
                    held=held_values(call, later, tool.output_schema), changed_later=changed_later(call, later),
                ),
                index,
            )
            done = ExecutedCall(
                ref=call.ref,
                tool=call.tool,
                arguments=arguments,
                output=output,
                hidden=call.ref in plan.hidden,
                turn=index,
            )
            executed.append(done)
            by_ref[call.ref] = done
        return executed

    def _simulate(self, request: roles.SimulateToolRequest, index: int) -> dict[str, Any]:
        """A schema-valid output consistent with the call, the session and what later calls of the
        turn do with it. An inconsistent answer is refused and the simulator asked once more, told
        why (the re-ask is its own funnel stage); a second inconsistent answer fails the turn."""
        output = self._call("simulation", roles.SIMULATE_TOOL, request).output
        _require("simulation", output_problems(request.tool, output))
        problems = _simulation_problems(request, output)
        if not problems:
            return output
        reask = Event(index, REASK_STAGE, False, "; ".join(problems))
        self.events.append(reask)
        retry = request.model_copy(update={"refused": problems})
        output = self._call("simulation", roles.SIMULATE_TOOL, retry).output
        _require("simulation", output_problems(request.tool, output))
        _require("simulation", _simulation_problems(request, output))
        reask.accepted = True
        return output

    def _inject_recoveries(
        self, text: str, scenario: Scenario, executed: list[ExecutedCall], earlier: list[ExecutedCall]
    ) -> list[ExecutedCall]:
        """Step 10: before some gold calls, a plausible wrong call answered by the error a real API
        returns. A proposal the filter refuses is recorded and skipped; it does not fail the turn."""
        positions = set(choose_recovery_positions(len(executed), self.rng, self.settings.error_hint_rate))
        result: list[ExecutedCall] = []
        for position, gold in enumerate(executed):
            if position in positions:
                turn = gold.turn
                history = earlier + result
                try:
                    wrong = self._call(
                        "recovery",
                        roles.PROPOSE_WRONG_CALL,
                        roles.WrongCallRequest(tools=scenario.tools, request=text, history=history, gold=gold),
                    )
                    problems = wrong_call_problems(wrong.tool, wrong.arguments, wrong.error, gold, scenario.tools, history)
                except TurnFailed as failure:
                    problems = [failure.reason]
                if problems:
                    self.events.append(Event(turn, "recovery", False, "; ".join(problems)))
                else:
                    self.events.append(Event(turn, "recovery", True))
                    result.append(
                        ExecutedCall(
                            ref=f"{gold.ref}!", tool=wrong.tool, arguments=wrong.arguments, error=wrong.error.render(), turn=turn
                        )
                    )
            result.append(gold)
        return result

    def _termination_schema_problems(self, scenario: Scenario, turns: list[Turn]) -> list[str]:
        tools = {tool.name: tool for tool in scenario.tools}
        problems: list[str] = []
        for turn in turns:
            for call in turn.calls:
                # A wrong call may break the schema in the way its 400 reports (the recovery rules
                # checked that); every executed call must validate, in and out.
                if call.error is None:
                    problems += argument_problems(tools[call.tool], call.arguments)
                    problems += output_problems(tools[call.tool], call.output or {})
        return problems

    def _record(self, scenario: Scenario, turns: list[Turn]) -> ConversationRecord:
        offered = list(scenario.tools)
        self.rng.shuffle(offered)
        return ConversationRecord(
            conversation_id=self.conversation_id,
            source="digit_tc",
            variant=self.settings.variant,
            domain=scenario.namespace,
            messages=chat_messages(turns),
            tools=[
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in offered
            ],
            meta={
                "persona": scenario.persona,
                "today": scenario.today,
                "turn_plans": [turn.plan.model_dump(mode="json") for turn in turns],
                "hidden_calls": sum(len(turn.plan.hidden) for turn in turns),
                "recoveries": sum(1 for turn in turns for call in turn.calls if call.error is not None),
                "turns_completed": len(turns),
            },
        )


def _simulation_problems(request: roles.SimulateToolRequest, output: dict[str, Any]) -> list[str]:
    tool = request.tool
    return (
        consistency_problems(tool, request.arguments, output, request.history)
        + unheld_values(tool.name, output, request.held)
        + ended_before_change(tool.name, output, request.changed_later, request.history)
    )


def _call_id(ref: str) -> str:
    return "call_" + ref.lstrip("$").replace("!", "_wrong")


def chat_messages(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Turns as OpenAI chat messages: user, (assistant tool call, tool result)*, assistant summary."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn.user})
        for call in turn.calls:
            call_id = _call_id(call.ref)
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": call.tool, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
                        }
                    ],
                }
            )
            content = call.error if call.error is not None else json.dumps(call.output, ensure_ascii=False)
            if call.error is not None and not is_error_content(content):
                content = f"Error: {content}"
            messages.append({"role": "tool", "tool_call_id": call_id, "name": call.tool, "content": content})
        messages.append({"role": "assistant", "content": turn.summary})
    return messages


def conversation_id(settings: SynthesisSettings, base_seed: int, index: int) -> str:
    return f"{settings.variant}-{base_seed}-{index:06d}"


def synthesize(
    catalog: Catalog,
    llm: LLM,
    settings: SynthesisSettings,
    *,
    base_seed: int,
    indices: Iterable[int],
    workers: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Roll out the conversations with these indices, in index order (drawn one at a time as a
    slot frees up, so ``indices`` may be a queue that other processes draw from too).

    The seed of conversation ``i`` depends on ``base_seed`` and ``i`` only, so every variant starts
    from the same scenario draw (paired ablations) and the result does not depend on ``workers``:
    with a remote LLM, ``workers`` conversations are in flight at once, each one's steps in order
    (jobs on the LLM event loop: :mod:`digit_assets.engine.llm.cooperative`). ``on_outcome`` sees each
    outcome as it finishes (on that loop's thread when ``workers`` > 1), e.g. for progress.
    """

    def build(index: int) -> Outcome:
        outcome = ConversationBuilder(
            catalog, llm, settings, derive_seed(base_seed, index), conversation_id(settings, base_seed, index)
        ).build()
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    if workers <= 1:
        return [build(index) for index in indices]
    return cooperative.run_all(build, indices, concurrency=workers)
