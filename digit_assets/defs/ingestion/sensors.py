"""Notice new, changed and removed spec files and ingest just those (one partition per file)."""


import hashlib
import json

import dagster as dg

from digit_assets import settings
from digit_assets.defs.ingestion.assets import spec_file_partitions, tool_specs
from digit_assets.engine.ingest import escape_problem
from digit_assets.engine.ingest.directory import list_spec_files


def _digest(root, source: str) -> str:
    """The file's hash; a file that escapes the directory is not read (ingestion quarantines it unread)."""
    if escape_problem(root / source, root) is not None:
        return "outside the directory"
    return hashlib.sha256((root / source).read_bytes()).hexdigest()


@dg.sensor(
    asset_selection=dg.AssetSelection.assets(tool_specs),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Ingests each spec file that appeared, changed or disappeared in the specs directory.",
)
def spec_files_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    root = settings.specs_dir()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = {source: _digest(root, source) for source in list_spec_files(root)}
    known = set(context.instance.get_dynamic_partitions(spec_file_partitions.name))
    new_partitions = sorted(source for source in current if source not in known)
    requests = [
        dg.RunRequest(partition_key=source, run_key=f"{source}@{digest}")
        for source, digest in sorted(current.items())
        if seen.get(source) != digest
    ]
    requests += [
        dg.RunRequest(partition_key=source, run_key=f"{source}@removed@{digest}")
        for source, digest in sorted(seen.items())
        if source not in current and source in known
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[spec_file_partitions.build_add_request(new_partitions)] if new_partitions else [],
        cursor=json.dumps(current, sort_keys=True),
    )


downstream_refresh_sensor = dg.AutomationConditionSensorDefinition(
    "downstream_refresh",
    target=dg.AssetSelection.assets(tool_specs).downstream(include_self=False),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="After the spec sensor ingests a file, refreshes what depends on it: the catalog, synthesis "
    "and the fidelity analysis (each asset's automation condition says when).",
)
