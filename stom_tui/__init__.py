"""STOM's terminal console (Textual). It imports only ``engine.domain``, ``engine.protocol`` and
``engine.config`` from the engine, and nothing outside this package imports Textual."""

from __future__ import annotations

__all__ = ["StomApp"]


def __getattr__(name: str) -> object:
    # Lazy, so importing a submodule (e.g. the feed) does not build the whole app.
    if name == "StomApp":
        from stom_tui.app import StomApp

        return StomApp
    raise AttributeError(name)
