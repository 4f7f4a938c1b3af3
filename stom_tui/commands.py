"""Command palette providers: find an instrument by fuzzy text and select it; trading commands
(order tickets, cancels, the kill switch and its reset)."""

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


class TradingDesk(Protocol):
    """The part of the app the trading commands need."""

    selected_instrument: str | None

    def run_trading_command(self, action: str) -> None: ...


@dataclass(frozen=True, slots=True)
class TradingCommand:
    action: str
    title: str
    help: str


TRADING_COMMANDS = (
    TradingCommand("buy", "Buy {instrument}…", "Open the order ticket to buy"),
    TradingCommand("sell", "Sell {instrument}…", "Open the order ticket to sell"),
    TradingCommand(
        "cancel_order", "Cancel the selected order", "Cancel the order under the cursor"
    ),
    TradingCommand("cancel_all", "Cancel all orders…", "Cancel every open order (asks first)"),
    TradingCommand(
        "kill", "Kill switch…", "Cancel all and block new entries, optionally flatten (asks first)"
    ),
    TradingCommand("kill_reset", "Reset the kill switch", "Allow new entries again"),
)


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


class TradingProvider(Provider):
    """Trading commands. One that cannot run now (engine offline …) says why when chosen."""

    @property
    def _desk(self) -> TradingDesk:
        return cast(TradingDesk, self.app)

    def _titles(self) -> list[tuple[TradingCommand, str]]:
        instrument = self._desk.selected_instrument or "the selected instrument"
        return [
            (command, command.title.format(instrument=instrument)) for command in TRADING_COMMANDS
        ]

    async def discover(self) -> Hits:
        desk = self._desk
        for command, title in self._titles():
            yield DiscoveryHit(
                title, partial(desk.run_trading_command, command.action), help=command.help
            )

    async def search(self, query: str) -> Hits:
        desk = self._desk
        matcher = self.matcher(query)
        for command, title in self._titles():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(desk.run_trading_command, command.action),
                    text=title,
                    help=command.help,
                )
