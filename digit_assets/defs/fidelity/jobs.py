"""Jobs of the fidelity stage: the exports and the analysis, refreshed together after synthesis."""

import dagster as dg

from digit_assets.defs.fidelity.assets import fidelity_analysis, realism_metrics
from digit_assets.defs.synthesis.assets import conversation_exports

refresh_fidelity_job = dg.define_asset_job(
    "refresh_fidelity",
    selection=dg.AssetSelection.assets(conversation_exports, realism_metrics, fidelity_analysis),
    description="Export the accepted conversations, measure realism and recompute the fidelity tables and dashboard.",
)
