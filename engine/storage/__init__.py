"""Recorded market data on disk: the Parquet tick store (``tick_store``), instrument files
(``instrument_file``) and the store's location (``paths``). Import the modules themselves: this
package imports nothing, so reaching ``paths`` does not load polars."""
