"""Venue adapters (``<venue>/``) behind one interface (``base.py``)."""
