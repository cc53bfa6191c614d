"""Fidelity analytics: does stateless DiGiT-TC output look like stateful-search output?

Plain Python (polars, numpy, scipy, plotly; no Dagster), in four steps that the pipeline wires:

1. :mod:`analytics.extract` — conversation records -> flat ``conversations`` / ``calls`` / ``edges``
   tables (:func:`~analytics.extract.extract`, :func:`~analytics.extract.extract_stored`);
2. :mod:`analytics.features` — flat tables -> per-conversation features and per-conversation
   category counts (:func:`~analytics.features.compute_features`), identical for every source;
3. :mod:`analytics.divergence` — KL / JS / KS / permutation tests with bootstrap intervals per
   (variant, baseline) pair, long format (:func:`~analytics.divergence.compare`);
4. :mod:`analytics.dashboard` — the self-contained HTML dashboard, the markdown summary and the
   headline numbers (:func:`~analytics.dashboard.write_dashboard`, ...).
"""
