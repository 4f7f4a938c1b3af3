"""Getting users' tick data into the tick store (``stom data import``).

- :mod:`engine.importers.tabular`: CSV or Parquet of trades, with optional quotes or book levels,
  columns mapped by name.
- :mod:`engine.importers.binance_dump`: Binance's public trade / aggTrade / bookTicker dumps.
- :mod:`engine.importers.stom_db`: STOM's own SQLite tick databases (one table per code).

Every importer turns its rows into the store's events (:mod:`engine.importers.events`) and writes
them through :class:`~engine.importers.staging.ImportSession`, which stages the parts, refuses
overlaps, and moves them into the store only when the whole input was read without a problem:
a bad row (named by file, row and column) changes nothing, and importing the same input again
adds nothing.
"""
