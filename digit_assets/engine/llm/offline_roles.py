"""Which algorithm fills which role in the offline default. Each lives with its pipeline stage."""

from __future__ import annotations

from digit_assets.engine import dataflow_meaning, enrich
from digit_assets.engine.llm import roles
from digit_assets.engine.llm.offline import Handler
from digit_assets.engine.synthesis import judge, planning, recovery, requests, simulation, summaries, verification

HANDLERS: dict[str, Handler] = {
    roles.INFER_OUTPUT_SCHEMA.name: enrich.infer_output_schema_offline,
    roles.PROPOSE_DATAFLOW.name: dataflow_meaning.propose_links_offline,
    roles.PLAN_TURN.name: planning.plan_turn_offline,
    roles.WRITE_REQUEST.name: requests.write_request_offline,
    roles.BACK_TRANSLATE.name: verification.back_translate_offline,
    roles.SIMULATE_TOOL.name: simulation.simulate_tool_offline,
    roles.SUMMARIZE_TURN.name: summaries.summarize_turn_offline,
    roles.JUDGE_CONVERSATION.name: judge.judge_offline,
    roles.PROPOSE_WRONG_CALL.name: recovery.propose_wrong_call_offline,
}
