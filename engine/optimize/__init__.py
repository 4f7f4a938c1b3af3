"""Optimization and robustness: search, walk-forward, Monte Carlo, charts and reports."""
