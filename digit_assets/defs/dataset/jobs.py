"""Jobs of the dataset stage: near-duplicate removal right after synthesis (so the fidelity dashboard's
funnel shows it), the training dataset after the fidelity analysis (so its card carries the figures)."""

import dagster as dg

from digit_assets.defs.dataset.assets import near_duplicates, training_dataset

deduplicate_job = dg.define_asset_job("deduplicate", selection=[near_duplicates])
build_dataset_job = dg.define_asset_job("build_dataset", selection=[training_dataset])
