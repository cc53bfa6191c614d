"""Daily refresh, running by default (the README says so): the synthesis shards at 02:00 UTC; the
exports and the fidelity analysis follow through their automation conditions (``downstream_refresh``)."""

import dagster as dg

from digit_assets.defs.synthesis.assets import synthesis_shards
from digit_assets.defs.synthesis.jobs import synthesize_shard_job


@dg.schedule(job=synthesize_shard_job, cron_schedule="0 2 * * *", execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING)
def daily_synthesis(context: dg.ScheduleEvaluationContext):
    """One run per shard, so a run launcher can spread them."""
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    for shard in synthesis_shards.get_partition_keys():
        yield dg.RunRequest(run_key=f"{day}-shard-{shard}", partition_key=shard)

