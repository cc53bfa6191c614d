"""Goals for the stateful search: what the user asks (a request with literal values, no ids) and the
environment's oracle that judges a state against it.

The two halves are kept apart on purpose. The agent gets a :class:`Task` only; the :class:`Expectation`
holds the ids of the entities the goal is about and is consulted as a black box after each executed
write (reads leave the state as it was), the way a stateful benchmark compares the final database
with the expected one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from digit_assets.engine.baselines.environments.base import Entity, State

Scalar = str | int | float


@dataclass(frozen=True)
class Literal:
    """A value in the user's words, with the slots (parameter or field names) a reader would put it in."""

    value: Scalar
    slots: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    """Everything the agent is told: the request text and the literal values it contains.

    ``speaker`` holds the values that say who is talking (a name, an email): they find the user's
    own records but describe none of the entities the request is about.
    """

    request: str
    literals: tuple[Literal, ...]
    speaker: tuple[Literal, ...] = ()


@dataclass(frozen=True)
class Verdict:
    done: bool
    progress: float  # share of the goal's conditions that hold
    violated: bool  # the state changed in a way the goal does not allow: no continuation can succeed


@dataclass(frozen=True)
class Expectation:
    """The target a goal sets, judged as a diff against the state the turn started from.

    ``targets``: existing entities and the condition each must end in; ``waypoints``: for a target
    reached in several writes (rename, then move), the states it may pass through; ``creations``:
    per table, the one new entity that must appear; ``side_effects``: entities allowed to change as
    a consequence (a balance, a stock level). Any other change, or a target changed into a state
    that is neither its condition nor a waypoint, is a violation.
    """

    start: State
    targets: Mapping[tuple[str, str], Callable[[Entity], bool]] = field(default_factory=dict)
    waypoints: Mapping[tuple[str, str], Callable[[Entity], bool]] = field(default_factory=dict)
    creations: Mapping[str, Callable[[Entity], bool]] = field(default_factory=dict)
    side_effects: frozenset[tuple[str, str]] = frozenset()

    def __call__(self, state: State) -> Verdict:
        created: dict[str, list[Entity]] = {}
        for table, key in self.start.changed_keys(state):
            entity = state.get(table, key)
            if (table, key) in self.targets:
                on_way = self.waypoints.get((table, key))
                if entity is None or not (self.targets[(table, key)](entity) or (on_way is not None and on_way(entity))):
                    return Verdict(False, 0.0, True)
            elif entity is not None and self.start.get(table, key) is None and table in self.creations:
                if not self.creations[table](entity):
                    return Verdict(False, 0.0, True)
                created.setdefault(table, []).append(entity)
            elif (table, key) not in self.side_effects:
                return Verdict(False, 0.0, True)
        if any(len(rows) > 1 for rows in created.values()):
            return Verdict(False, 0.0, True)
        met = sum(1 for (table, key), holds in self.targets.items() if (row := state.get(table, key)) is not None and holds(row))
        met += len(created)
        total = len(self.targets) + len(self.creations)
        return Verdict(met == total, met / total, False)


@dataclass(frozen=True)
class Goal:
    kind: str
    task: Task
    oracle: Expectation


@dataclass(frozen=True)
class Persona:
    """Who talks: how they introduce themselves and what the oracle knows about them."""

    intro: str
    literals: tuple[Literal, ...]
    entity_id: str
    context: dict[str, Any] = field(default_factory=dict)  # session context the environment needs (the files user)


GoalSampler = Callable[[State, Persona, random.Random], Goal | None]
Oracle = Callable[[State], Verdict]  # what the search sees of a goal's expectation: a black box


def say_date(iso: str, rng: random.Random) -> str:
    """A date as people write it: ISO or 'March 14, 2026'."""
    if rng.random() < 0.5:
        return iso
    parsed = date.fromisoformat(iso)
    return f"{parsed.strftime('%B')} {parsed.day}, {parsed.year}"


def unique_by(rows: list[Entity], key: Callable[[Entity], Any]) -> list[Entity]:
    """Rows whose key no other row shares, so a request naming that key designates one entity."""
    counts: dict[Any, int] = {}
    for row in rows:
        counts[key(row)] = counts.get(key(row), 0) + 1
    return [row for row in rows if counts[key(row)] == 1]
