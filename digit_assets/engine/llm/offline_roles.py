"""Which algorithm fills which role in the offline default. Each lives with its pipeline stage."""

from __future__ import annotations

from digit_assets.engine import enrich
from digit_assets.engine.llm import roles
from digit_assets.engine.llm.offline import Handler

HANDLERS: dict[str, Handler] = {
    roles.INFER_OUTPUT_SCHEMA.name: enrich.infer_output_schema_offline,
}
