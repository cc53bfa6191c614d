"""Stateful baselines: executable environments, stateful search over them, importers of public trajectories."""
