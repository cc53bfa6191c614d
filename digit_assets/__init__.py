"""digit-tc: the Dagster code location (``defs/``) and the DiGiT-TC generation engine (``engine/``)."""
