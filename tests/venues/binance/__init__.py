"""Binance spot adapter against its loopback server."""
