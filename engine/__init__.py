"""STOM engine: venues, market state, the bus bridge and (later) trading and backtesting.

The app (``stom_tui``) may import only :mod:`engine.domain` and :mod:`engine.protocol`.
"""

__version__ = "0.1.0"
