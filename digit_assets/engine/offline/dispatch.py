"""The embedded offline default: each role is filled by a seeded algorithm of this package.

Determinism: the random generator of a call is derived from (seed, role, request), so the same
request gets the same answer whatever order calls happen in or which shard makes them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from digit_assets.engine.llm.port import LLMError, LLMOutputInvalid, Req, Resp, Role
from digit_assets.engine.offline import (
    back_translator,
    dataflow_proposer,
    judge,
    mistakes,
    output_schema,
    planner,
    request_writer,
    simulator,
    summarizer,
)
from digit_assets.engine.provenance import derive_seed
from digit_assets.engine.synthesis import roles

Handler = Callable[[Any, random.Random], BaseModel]

# Which algorithm fills which role.
HANDLERS: dict[str, Handler] = {
    roles.INFER_OUTPUT_SCHEMA.name: output_schema.infer_output_schema_offline,
    roles.PROPOSE_DATAFLOW.name: dataflow_proposer.propose_links_offline,
    roles.PLAN_TURN.name: planner.plan_turn_offline,
    roles.WRITE_REQUEST.name: request_writer.write_request_offline,
    roles.BACK_TRANSLATE.name: back_translator.back_translate_offline,
    roles.SIMULATE_TOOL.name: simulator.simulate_tool_offline,
    roles.SUMMARIZE_TURN.name: summarizer.summarize_turn_offline,
    roles.JUDGE_CONVERSATION.name: judge.judge_offline,
    roles.PROPOSE_WRONG_CALL.name: mistakes.propose_wrong_call_offline,
}


class OfflineLLM:
    def __init__(self, handlers: Mapping[str, Handler]):
        self._handlers = dict(handlers)

    @property
    def label(self) -> str:
        return "offline"

    def call(self, role: Role[Req, Resp], request: Req, *, seed: int) -> Resp:
        handler = self._handlers.get(role.name)
        if handler is None:
            raise LLMError(role.name, "the offline default has no handler for this role")
        rng = random.Random(derive_seed(seed, role.name, request.model_dump(mode="json")))
        answer = handler(request, rng)
        try:
            return role.response_model.model_validate(answer.model_dump(mode="json"))
        except ValidationError as exc:
            raise LLMOutputInvalid(role.name, f"offline handler returned an invalid response: {exc}") from exc


def default_offline_llm() -> OfflineLLM:
    """The offline default with every role the engine defines."""
    return OfflineLLM(HANDLERS)
