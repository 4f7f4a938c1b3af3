"""Upbit adapter against the Upbit loopback server."""
