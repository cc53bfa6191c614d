"""Every LLM role of the method: its instructions and typed request/response models.

The offline engine fills each role with an algorithm (:mod:`digit_assets.engine.offline.dispatch`);
a real model gets ``instructions`` as its system prompt, the request as the role's ``render``
writes it (:mod:`.prompts`: what the role needs, stable part first) as the user message, and must
answer with the schema its request gets (:mod:`.response_schemas`: built from the request's tools
and data flow), which every valid answer of the response model satisfies.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from digit_assets.engine.llm.port import Role
from digit_assets.engine.synthesis import prompts
from digit_assets.engine.synthesis import response_schemas as schemas
from digit_assets.engine.synthesis.model import ExecutedCall, Link, PlannedCall, Scenario, ToolError, ToolView, TurnPlan


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
    schema_for=lambda request: schemas.OUTPUT_SCHEMA_SCHEMA,
)


class ProposedLink(BaseModel):
    src_tool: str
    src_field: str = Field(description="dotted path into the source tool's output, '[]' for array items: files[].path")
    dst_tool: str
    dst_param: str = Field(description="a top-level parameter of the destination tool")
    kind: str = Field(description="synonym | id_suffix | entity_noun | path | numeric")
    confidence: float = Field(ge=0.0, le=1.0)
    why: str = ""


class DataflowRequest(BaseModel):
    namespace: str
    tools: list[ToolView]
    known: list[Link] = Field(description="edges already found by equal field and parameter names")


class DataflowResponse(BaseModel):
    links: list[ProposedLink]


PROPOSE_DATAFLOW = Role(
    name="propose_dataflow",
    instructions=(
        "You know how APIs are used together. Given the tools of one API (parameters and output schemas) "
        "and the data-flow edges already found by equal names, propose further edges: an output field "
        "whose value a caller would pass as a parameter of another tool although the names differ. "
        "Kinds: 'synonym' (a user_id for a receiver_id), 'id_suffix' (a folder_id for a parent_folder_id), "
        "'entity_noun' (a user_id for a parameter named user), 'path' (names from a listing for a path or "
        "file parameter), 'numeric' (a computed result for the next operation's operand). Give each a "
        "confidence between 0 and 1 and a short reason; propose nothing you would not bet on."
    ),
    request_model=DataflowRequest,
    response_model=DataflowResponse,
    schema_for=lambda request: schemas.dataflow_schema(request.tools),
)


# --- Synthesis roles (method.md steps 2-10). Models live in engine.synthesis.model. -----------------


class PlanTurnRequest(BaseModel):
    # Fields run from what stays the same across a conversation's requests to what changes (the
    # order :func:`.prompts.render_plan` keeps), so a server's prefix cache reuses the longest prefix.
    scenario: Scenario
    min_calls: int
    max_calls: int
    earlier_turns: list[TurnPlan] = Field(description="plans of the turns already completed, in order")
    earlier_calls: list[ExecutedCall] = Field(description="executed calls of earlier turns, with outputs")
    next_ref: int = Field(description="number of the first new call ($next_ref)")


class PlanTurnResponse(BaseModel):
    calls: list[PlannedCall]


PLAN_TURN = Role(
    name="plan_turn",
    instructions=(
        "You plan one user turn of a tool-calling conversation. Using only the listed tools, return a chain "
        "of calls numbered from $next_ref. Every call after the first takes at least one argument from an "
        "earlier call's output, written as a reference string like \"$2.orders[0].order_id\". In a later "
        "turn, at least one new call must consume an output of an earlier turn. Other arguments are "
        "concrete, realistic values that validate against the tool's parameter schema (no placeholders). "
        "Stay between min_calls and max_calls calls and consistent with the persona and today's date."
    ),
    request_model=PlanTurnRequest,
    response_model=PlanTurnResponse,
    schema_for=lambda request: schemas.plan_schema(
        request.scenario.tools,
        request.scenario.links,
        request.earlier_calls,
        next_ref=request.next_ref,
        min_calls=request.min_calls,
        max_calls=request.max_calls,
    ),
    render=prompts.render_plan,
)


class WriteRequestRequest(BaseModel):
    scenario: Scenario
    plan: TurnPlan
    earlier_requests: list[str]


class WriteRequestResponse(BaseModel):
    request: str


WRITE_REQUEST = Role(
    name="write_request",
    instructions=(
        "You are the user described by the persona. Write your next message to an assistant so that "
        "carrying it out takes exactly the planned calls. State the goal; mention every concrete argument "
        "value of every call, including the hidden ones; never describe what the hidden calls do (the "
        "assistant must discover that); never name a tool or a parameter, not even as a label for a value "
        "(say \"in Lisbon\", \"at least 500 bytes\", not \"the city is Lisbon\", \"min size bytes 500\"); no schema "
        "words (parameter, argument, enum, string, null); say values the way a person would (names, "
        "dates, places, amounts); write no system identifier you have not seen in this conversation; never "
        "write $-references; stay consistent with your earlier messages."
    ),
    request_model=WriteRequestRequest,
    response_model=WriteRequestResponse,
    schema_for=lambda request: schemas.text_schema("request"),
    render=prompts.render_write_request,
)


class BackTranslateRequest(BaseModel):
    tools: list[ToolView]
    links: list[Link] = Field(description="data-flow edges between the tools, derived from their schemas alone")
    min_calls: int = 2
    max_calls: int = 4
    earlier_requests: list[str]
    earlier_calls: list[ExecutedCall]
    next_ref: int
    request: str


class BackTranslateResponse(BaseModel):
    calls: list[PlannedCall]


BACK_TRANSLATE = Role(
    name="back_translate",
    instructions=(
        "You are the assistant. From the user's message, the conversation so far and the tools alone, "
        "write the complete chain of calls that fulfils the message, numbered from $next_ref, including "
        "the lookups needed to discover values the user did not give. Use every concrete value the user "
        "gave; take discovered values from earlier outputs with references like \"$2.order_id\"."
    ),
    request_model=BackTranslateRequest,
    response_model=BackTranslateResponse,
    schema_for=lambda request: schemas.plan_schema(
        request.tools,
        request.links,
        request.earlier_calls,
        next_ref=request.next_ref,
        min_calls=request.min_calls,
        max_calls=request.max_calls,
        start_from_earlier_turn=False,
    ),
    render=prompts.render_back_translate,
)


class SimulateToolRequest(BaseModel):
    tool: ToolView
    today: str
    history: list[ExecutedCall] = Field(description="every earlier call of the session with its output")
    arguments: dict[str, Any]
    refused: list[str] = Field(
        default_factory=list, description="why your previous answer to this same call was refused; answer again without these problems"
    )
    held: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="values the result must show in the list at each path (files[0].tags): a later call of this turn removes them from that object",
    )
    changed_later: list[str] = Field(
        default_factory=list,
        description="paths of objects in the result (orders[0]; empty: the result itself) that a later call of this turn changes: not shown cancelled, refunded, returned or deleted",
    )


class SimulateToolResponse(BaseModel):
    output: dict[str, Any]


SIMULATE_TOOL = Role(
    name="simulate_tool",
    instructions=(
        "You stand in for a real system. Return the successful result of this call as JSON that validates "
        "against the tool's output schema. The session history is the system's state: stay consistent "
        "with it (the same ids, names, dates and amounts), echo the arguments where the result describes "
        "them, and give realistic values, never placeholders. A change shows in its result and in every "
        "later read (a rename shows the new name, a move the new place, an added tag is in the tags, a "
        "status change the new status); a list holds only items that match its filters; an object keeps "
        "its field values unless a call changed them; a refund is at most the total of what it refunds "
        "(cancelling an order refunds its total)."
    ),
    request_model=SimulateToolRequest,
    response_model=SimulateToolResponse,
    schema_for=lambda request: schemas.output_schema_for(request.tool, request.arguments),
    render=prompts.render_simulate,
)


class SummarizeTurnRequest(BaseModel):
    request: str
    calls: list[ExecutedCall]


class SummarizeTurnResponse(BaseModel):
    summary: str


SUMMARIZE_TURN = Role(
    name="summarize_turn",
    instructions=(
        "You are the assistant closing a turn. In one to three first-person sentences, tell the user what "
        "you did and the key results (ids, dates, amounts they care about). Never name tools or parameters."
    ),
    request_model=SummarizeTurnRequest,
    response_model=SummarizeTurnResponse,
    schema_for=lambda request: schemas.text_schema("summary", schemas.SUMMARY_TEXT),
    render=prompts.render_json,
)


class JudgeRequest(BaseModel):
    today: str
    requests: list[str]
    calls: list[ExecutedCall]


class JudgeResponse(BaseModel):
    accept: bool
    problems: list[str] = Field(default_factory=list)


JUDGE_CONVERSATION = Role(
    name="judge_conversation",
    instructions=(
        "You review a finished tool-calling conversation. Reject it if any argument is hallucinated (not "
        "from the user or an earlier output) or a placeholder, if dates are inconsistent with today or with "
        "each other, if a result is impossible, or if a constraint the user stated is ignored. List every "
        "problem you find."
    ),
    request_model=JudgeRequest,
    response_model=JudgeResponse,
    schema_for=lambda request: schemas.JUDGE_SCHEMA,
    render=prompts.render_json,
)


class WrongCallRequest(BaseModel):
    tools: list[ToolView]
    history: list[ExecutedCall]
    request: str
    gold: ExecutedCall


class WrongCallResponse(BaseModel):
    tool: str
    arguments: dict[str, Any]
    error: ToolError = Field(description="what the system returns for the wrong call: status and cause, no advice")


PROPOSE_WRONG_CALL = Role(
    name="propose_wrong_call",
    instructions=(
        "You produce a plausible mistake an assistant could make instead of the given correct call, and the "
        "error a real API returns for it. Call the same tool with one argument wrong in the way assistants get "
        "it wrong: an id of another kind of record from the history (a customer id where an order id "
        "belongs), a mis-copied id, a record the history shows is already in the requested state, a required "
        "argument left out, a value of the wrong type or format, a value outside the allowed options or "
        "range. Never repeat a call that already succeeded in the history. The error has an HTTP-style code "
        "and status (400 INVALID_ARGUMENT, 404 NOT_FOUND, 409 CONFLICT) and a message stating the cause "
        "and naming the offending value, like \"order 'O-1234' not found\" or \"'size' must be one of S, M, "
        "L; got 'XXL'\". State the cause only: no advice, no instructions, no tool names, no mention of the "
        "user or the request. The correct call that follows must change exactly what the error names."
    ),
    request_model=WrongCallRequest,
    response_model=WrongCallResponse,
    schema_for=lambda request: schemas.wrong_call_schema(next(t for t in request.tools if t.name == request.gold.tool)),
    render=prompts.render_wrong_call,
)
