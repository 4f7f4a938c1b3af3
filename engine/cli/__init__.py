"""The ``stom`` command line: the composition root that wires the engine, the broker and the app.

This is the only engine package allowed to import :mod:`stom_tui` (lazily, for the console).
"""
