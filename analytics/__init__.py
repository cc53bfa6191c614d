"""Fidelity analytics: does stateless DiGiT-TC output look like stateful-search output?

Plain Python (polars, numpy, scipy, plotly; no Dagster), in four steps that the pipeline wires:

1. :mod:`analytics.extract` — conversation records -> flat ``conversations`` / ``calls`` / ``edges``
   tables (:func:`~analytics.extract.extract`, :func:`~analytics.extract.extract_stored`);
2. :mod:`analytics.features` — flat tables -> per-conversation features and per-conversation
   category counts (:func:`~analytics.features.compute_features`), identical for every source;
3. :mod:`analytics.divergence` — JS / KL / KS / permutation tests per (variant, baseline) pair,
   raw and length-controlled, pooled and per domain, with BCa intervals, family scores and the
   claim tests, long format (:func:`~analytics.divergence.analyze`);
4. :mod:`analytics.dashboard` — the self-contained HTML dashboard, the markdown tables and the
   headline numbers (:func:`~analytics.dashboard.write_dashboard`, ...).

Every feature and statistic is defined in ``docs/fidelity.md``.
"""
