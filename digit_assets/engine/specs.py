"""The one normalized tool specification every source format is turned into."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from digit_assets.engine.side_effects import SideEffect, SideEffectOrigin, inferred_side_effect

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
    side_effect: SideEffect = Field(description="read_only or state_changing; inferred from the name when not given")
    side_effect_origin: SideEffectOrigin = "inferred"

    @model_validator(mode="before")
    @classmethod
    def _infer_side_effect(cls, data: Any) -> Any:
        """A spec built without a class (older catalog rows, tests) gets the one its name implies."""
        if isinstance(data, dict) and data.get("side_effect") is None and isinstance(data.get("name"), str):
            return {**data, "side_effect": inferred_side_effect(data["name"]), "side_effect_origin": "inferred"}
        return data

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
