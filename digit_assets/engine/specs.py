"""The one normalized tool specification every source format is turned into."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SourceFormat = Literal["openai", "bfcl", "mcp", "openapi"]


class ToolSpec(BaseModel):
    """A tool as DiGiT-TC sees it: a name in a namespace, JSON Schemas in and (maybe) out."""

    model_config = ConfigDict(frozen=True)

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any]
    output_schema: dict[str, Any] | None = None
    source_file: str
    source_format: SourceFormat
    position: str

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    def openai_tool(self) -> dict[str, Any]:
        """The tool as an OpenAI ``tools`` entry (what a chat record's tool list carries)."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


class Rejection(BaseModel):
    """An item a stage refused, with the reason. Stored in the ``quarantine`` table."""

    stage: str
    source: str
    item: str | None = None
    position: str | None = None
    reason: str
    raw: str | None = None
