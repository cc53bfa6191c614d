"""Jobs of the synthesis stage: one shard per run (so shards spread over run launchers), then export."""

import dagster as dg

from digit_assets.defs.synthesis.assets import conversation_exports, synthesis_shards, synthetic_conversations

synthesize_shard_job = dg.define_asset_job("synthesize_shard", selection=[synthetic_conversations], partitions_def=synthesis_shards)
export_conversations_job = dg.define_asset_job("export_conversations", selection=[conversation_exports])
