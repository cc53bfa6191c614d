"""The DiGiT-TC engine: plain Python, no Dagster. Assets in ``digit_assets.defs`` stay thin over it."""
