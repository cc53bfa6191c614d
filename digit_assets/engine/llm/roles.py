"""Every LLM role of the method: its instructions and typed request/response models.

The offline default fills each role with an algorithm (:mod:`.offline_roles`); a real model gets
``instructions`` as its system prompt and must answer with the response model's JSON Schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from digit_assets.engine.llm.port import Role


class OutputSchemaRequest(BaseModel):
    tool_name: str
    description: str
    parameters: dict[str, Any]


class OutputSchemaResponse(BaseModel):
    output_schema: dict[str, Any] = Field(description="JSON Schema (type object) of a successful result")


INFER_OUTPUT_SCHEMA = Role(
    name="infer_output_schema",
    instructions=(
        "You document APIs. Given a tool's name, description and JSON Schema parameters, write the JSON "
        "Schema of the object a successful call returns. Use type 'object' at the top, name fields the "
        "way the parameters name the same things (an id that other tools take as a parameter keeps the "
        "same name), give every field a type, and list the fields a caller can rely on as required."
    ),
    request_model=OutputSchemaRequest,
    response_model=OutputSchemaResponse,
)
