"""The data a conversation passes through: scenario, plans with ``$k.path`` references, executed turns.

References: an argument value ``"$3.orders[0].order_id"`` means "the ``order_id`` of the first item
of ``orders`` in the output of call ``$3``". Call refs are numbered across the whole conversation,
so a later turn can consume an earlier turn's output.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, Field, model_validator

from digit_assets.engine.side_effects import READ_ONLY, SideEffect, inferred_side_effect

REFERENCE = re.compile(r"^\$(\d+)\.([A-Za-z_][\w]*(?:\[\d+\])?(?:\.[A-Za-z_][\w]*(?:\[\d+\])?)*)$")
REFERENCE_LEAK = re.compile(r"\$\d+")
_PATH_STEP = re.compile(r"([A-Za-z_]\w*)(?:\[(\d+)\])?")


def parse_reference(value: Any) -> tuple[str, str] | None:
    """``("$3", "orders[0].order_id")`` for a reference string, None for a literal."""
    if not isinstance(value, str):
        return None
    match = REFERENCE.match(value)
    return (f"${match.group(1)}", match.group(2)) if match else None


def resolve_path(output: Any, path: str) -> Any:
    """Follow ``orders[0].order_id`` into an output; KeyError/IndexError/TypeError when absent."""
    current = output
    for step in path.split("."):
        match = _PATH_STEP.fullmatch(step)
        if match is None:
            raise KeyError(f"malformed path step {step!r}")
        current = current[match.group(1)]
        if match.group(2) is not None:
            current = current[int(match.group(2))]
    return current


class ToolView(BaseModel):
    """What every role is shown of a tool: never the source file, always both schemas."""

    name: str
    description: str
    parameters: dict[str, Any]
    output_schema: dict[str, Any]
    side_effect: SideEffect = Field(description="read_only: the call only discovers; state_changing: it acts")

    @model_validator(mode="before")
    @classmethod
    def _infer_side_effect(cls, data: Any) -> Any:
        """A view built without the catalog's class gets the one its name implies."""
        if isinstance(data, dict) and data.get("side_effect") is None and isinstance(data.get("name"), str):
            return {**data, "side_effect": inferred_side_effect(data["name"])}
        return data

    @property
    def read_only(self) -> bool:
        return self.side_effect == READ_ONLY


class Link(BaseModel):
    """A data-flow edge inside the sampled subset: ``src_tool``'s ``src_field`` can feed ``dst_param``."""

    src_tool: str
    src_field: str
    dst_tool: str
    dst_param: str


class Scenario(BaseModel):
    """Step 1: a coherent tool subset, a persona and a 'today'."""

    namespace: str
    tools: list[ToolView]
    links: list[Link]
    persona: str
    today: str = Field(description="ISO date the conversation happens on")


class PlannedCall(BaseModel):
    ref: str = Field(pattern=r"^\$[0-9]+$")  # not \d: llama.cpp's grammar builder rejects the escape
    tool: str
    arguments: dict[str, Any]

    def references(self) -> dict[str, tuple[str, str]]:
        """param -> (producer ref, path) for every argument that is a reference."""
        found = {}
        for param, value in self.arguments.items():
            parsed = parse_reference(value)
            if parsed:
                found[param] = parsed
        return found

    def literals(self) -> dict[str, Any]:
        return {param: value for param, value in self.arguments.items() if parse_reference(value) is None}


class TurnPlan(BaseModel):
    calls: list[PlannedCall]
    hidden: list[str] = Field(default_factory=list, description="refs of implicit calls the request must not describe")


class ToolError(BaseModel):
    """A failed call's result in the style of real APIs: a status code and word, and the cause."""

    code: int = Field(ge=400, le=599, description="HTTP-style status: 400 invalid argument, 404 not found, 409 conflict")
    status: str = Field(description="status word in capitals: INVALID_ARGUMENT, NOT_FOUND, CONFLICT, FAILED_PRECONDITION")
    message: str = Field(description="the cause, naming the offending value; no advice on what to do")

    def render(self) -> str:
        """The tool message content: ``{"error": {"code": 404, "status": "NOT_FOUND", "message": ...}}``."""
        return json.dumps({"error": self.model_dump()}, ensure_ascii=False)


class ExecutedCall(BaseModel):
    """A call as it happened in the stateless execution, references substituted."""

    ref: str
    tool: str
    arguments: dict[str, Any]
    output: dict[str, Any] | None = None
    error: str | None = Field(default=None, description="set on injected wrong calls: the rendered ToolError")
    hidden: bool = False
    turn: int


class Turn(BaseModel):
    user: str
    plan: TurnPlan
    calls: list[ExecutedCall] = Field(description="in execution order, injected wrong calls included")
    summary: str
