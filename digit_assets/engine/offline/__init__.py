"""The embedded offline engine: one module per LLM role of the method, each a seeded algorithm that
answers the role's request model with its response model, so the pipeline runs with no network.

:mod:`.dispatch` maps roles to these algorithms behind the LLM port. The method itself (filters,
rules, rollout) lives in :mod:`digit_assets.engine.synthesis` and never imports this package.
"""
