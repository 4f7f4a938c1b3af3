"""The built-in market simulator (venue code ``SIM``).

:mod:`engine.sim.catalog` lists the instruments it can simulate; :class:`MarketSimulator`
(:mod:`engine.sim.market`) generates a deterministic, realistic stream of book and trade events for
them. The simulator never reads the wall clock: the engine tells it how far to advance.
"""
