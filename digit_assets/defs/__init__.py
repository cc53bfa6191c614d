"""Dagster definitions, one folder per pipeline stage (autoloaded by ``digit_assets.definitions``)."""
