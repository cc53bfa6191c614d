"""Jobs of the ingestion stage: one spec file at a time, then the whole catalog."""

import dagster as dg

from digit_assets.defs.ingestion.assets import dataflow_graph, enriched_tools, spec_file_partitions, tool_specs

ingest_spec_file_job = dg.define_asset_job(
    "ingest_spec_file", selection=[tool_specs], partitions_def=spec_file_partitions
)
build_tool_catalog_job = dg.define_asset_job("build_tool_catalog", selection=[enriched_tools, dataflow_graph])
