"""Jobs of the baselines stage: stateful search one domain per run, then the imported trajectories."""

import dagster as dg

from digit_assets.defs.baselines.assets import baseline_domains, imported_baselines, stateful_search_baselines

stateful_search_job = dg.define_asset_job(
    "stateful_search", selection=[stateful_search_baselines], partitions_def=baseline_domains
)
import_baselines_job = dg.define_asset_job("import_baselines", selection=[imported_baselines])
