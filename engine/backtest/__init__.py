"""The tick-level backtester: recorded ticks through the same strategies, risk, OMS and paper
fill model as paper trading (see :mod:`engine.backtest.run`), results on disk
(:mod:`engine.backtest.results`), and a worker-process entry (:mod:`engine.backtest.worker`)."""
