"""Stateful baselines: conversations made by search in executable environments, and imported public trajectories."""
