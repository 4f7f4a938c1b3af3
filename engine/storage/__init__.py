"""Recorded market data on disk: the Parquet tick store and instrument files."""

from engine.storage.instrument_file import read_instrument, write_instrument
from engine.storage.tick_store import TickStore, TickWriter, instrument_folder

__all__ = ["TickStore", "TickWriter", "instrument_folder", "read_instrument", "write_instrument"]
