"""Venue adapters against their loopback protocol servers, and the live exchange."""
