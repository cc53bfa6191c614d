"""The conversation record shared by every source: DiGiT-TC output, its ablations, stateful-search
baselines and imported trajectories. Fidelity features are computed from this shape alone, so they
are computed identically for every source.

Messages follow the OpenAI chat format:
- ``{"role": "user", "content": str}``
- ``{"role": "assistant", "content": None, "tool_calls": [{"id", "type": "function",
  "function": {"name", "arguments": <JSON string>}}]}``
- ``{"role": "tool", "tool_call_id", "name", "content": <JSON string or error text>}``
- ``{"role": "assistant", "content": str}`` closes a turn.

A tool result is an error when its content starts with ``Error`` (after whitespace) or is a JSON
object with an ``error`` key; see :func:`is_error_content`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

Source = Literal["digit_tc", "stateful_search", "import"]


class ConversationRecord(BaseModel):
    conversation_id: str
    source: Source
    variant: str = Field(description="digit_tc | no_impl | no_bt for synthesis; a baseline name otherwise")
    domain: str | None = Field(default=None, description="tool namespace, when the conversation has one")
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = Field(description="OpenAI tools list offered to the assistant")
    meta: dict[str, Any] = Field(default_factory=dict)

    def n_turns(self) -> int:
        return sum(1 for m in self.messages if m.get("role") == "user")

    def tool_calls(self) -> list[dict[str, Any]]:
        return [call for m in self.messages if m.get("role") == "assistant" for call in (m.get("tool_calls") or [])]

    def n_errors(self) -> int:
        return sum(1 for m in self.messages if m.get("role") == "tool" and is_error_content(m.get("content")))


def is_error_content(content: Any) -> bool:
    if not isinstance(content, str):
        return False
    text = content.lstrip()
    if text.lower().startswith("error"):
        return True
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return False
        return isinstance(parsed, dict) and "error" in parsed
    return False
