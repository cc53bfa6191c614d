"""What the format readers hand to the shared checks: tool drafts, and the problems found on the way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class Entry(NamedTuple):
    """One item of a tool list, with where it sits in its file (``[2]``, ``tools[2]``, ``line 3``)."""

    position: str
    value: Any


@dataclass(frozen=True)
class ToolDraft:
    """A tool as its source format spelled it, before the checks every format shares.

    ``http_method``: the OpenAPI operation's method, which says whether the call changes state.
    ``may_rename``: the format's own naming rules are looser than OpenAI's (BFCL, MCP, OpenAPI), so
    forbidden characters are replaced rather than the tool rejected.
    """

    position: str
    raw: Any
    name: Any
    description: Any = None
    parameters: Any = None
    output_schema: Any = None
    may_rename: bool = False
    http_method: str | None = None


@dataclass(frozen=True)
class ItemProblem:
    """An item a format reader could not turn into a draft (unparsable line, unresolvable ``$ref``...)."""

    position: str
    problem: str
    raw: Any
    name: str | None = None


class SpecProblem(Exception):
    """Why one tool cannot be used; the message is written for the author of the spec."""


class FileProblem(Exception):
    """Why a whole file cannot be used (unreadable, unparsable, unknown format)."""

    def __init__(self, problem: str, *, position: str | None = None, raw: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.position = position
        self.raw = raw
