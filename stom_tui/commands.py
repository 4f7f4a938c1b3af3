"""Command palette providers: find an instrument by fuzzy text and select it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True, slots=True)
class InstrumentEntry:
    """What the palette knows about one instrument."""

    instrument_id: str
    name: str
    kind: str


class InstrumentDirectory(Protocol):
    """The part of the app the palette needs (keeps this module free of an app import)."""

    def instrument_entries(self) -> list[InstrumentEntry]: ...

    def select_instrument(self, instrument_id: str) -> None: ...


class InstrumentProvider(Provider):
    """Fuzzy-searches instruments by id and name; choosing one selects it in the watchlist."""

    @property
    def _directory(self) -> InstrumentDirectory:
        return cast(InstrumentDirectory, self.app)

    async def discover(self) -> Hits:
        directory = self._directory
        for entry in directory.instrument_entries():
            yield DiscoveryHit(
                f"{entry.instrument_id}  {entry.name}",
                partial(directory.select_instrument, entry.instrument_id),
                help=f"Show {entry.kind} {entry.name}",
            )

    async def search(self, query: str) -> Hits:
        directory = self._directory
        matcher = self.matcher(query)
        for entry in directory.instrument_entries():
            candidate = f"{entry.instrument_id}  {entry.name}"
            score = matcher.match(candidate)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(candidate),
                    partial(directory.select_instrument, entry.instrument_id),
                    text=candidate,
                    help=f"Show {entry.kind} {entry.name}",
                )
