"""Command palette providers.

:class:`ConsoleCommands` is the palette: opened empty it lists STOM's own commands first —
trading (tickets, cancels, kill switch and its reset, arm), views, research (backtest,
optimizer, …), then the instruments — and Textual's generic commands (theme, keys, quit …) last.
The key commands come from the bindings active on the screen the palette was opened over (so a
new binding with an id appears here by itself, with its current key); commands with no key
(:data:`PALETTE_ONLY_COMMANDS`) are listed explicitly. One provider yields them all, in that
order: the palette keeps the order of equal-scored (discovery) hits from one provider, while
several providers would interleave at random.

:class:`InstrumentProvider` and :class:`TradingProvider` are the narrower providers, kept for
screens that want only those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen


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


class InstrumentDirectory(Protocol):
    """The part of the app the palette needs (keeps this module free of an app import)."""

    def instrument_entries(self) -> list[InstrumentEntry]: ...

    def select_instrument(self, instrument_id: str) -> None: ...


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

PALETTE_ONLY_COMMANDS = (TRADING_COMMANDS[-1],)
"""Commands with no key: only the palette runs them (the help lists them)."""

COMMAND_ORDER = (
    "buy",
    "sell",
    "cancel_order",
    "cancel_all",
    "kill",
    "kill_reset",
    "arm",
    "focus_ladder",
    "show_market",
    "show_orders",
    "show_positions",
    "show_strategies",
    "toggle_log",
    "chart_timeframe",
    "toggle_strategy",
    "backtest",
    "optimize",
    "walkforward",
    "montecarlo",
)
"""STOM's commands in palette order, by binding id; other bindings with an id follow when the
footer shows them (cursor keys are not commands)."""
NOT_IN_PALETTE = frozenset({"find_instrument", "back", "help", "quit"})
"""Bindings left out: opening the palette from itself, and the keys listed last anyway."""


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    """One entry of the palette: what it says and what choosing it does."""

    title: str
    help: str
    run: Callable[[], object]


def binding_commands(screen: Screen[Any], app: Any) -> list[tuple[str, PaletteCommand]]:
    """``(binding id, command)`` for every described binding with an id active on ``screen``
    (the keys of that screen and its focused pane, and the app's), in :data:`COMMAND_ORDER`."""
    found: dict[str, PaletteCommand] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        ident = binding.id
        if not ident or not binding.description or ident in NOT_IN_PALETTE or ident in found:
            continue
        if ident not in COMMAND_ORDER and not binding.show:
            continue  # cursor movement and the like: keys, not commands
        title = binding.tooltip or binding.description
        key_text = app.get_key_display(binding) if key else ""
        found[ident] = PaletteCommand(
            title, f"key {key_text}", partial(app.run_action, binding.action, active.node)
        )
    order = {ident: index for index, ident in enumerate(COMMAND_ORDER)}
    return sorted(found.items(), key=lambda item: (order.get(item[0], len(order)), item[1].title))


class ConsoleCommands(Provider):
    """The console's palette (see the module docstring)."""

    def commands(self) -> Iterator[PaletteCommand]:
        app = self.app
        by_id = dict(binding_commands(self.screen, app))
        desk = cast(TradingDesk, app)
        instrument = desk.selected_instrument or "the selected instrument"
        listed: set[str] = set()
        # Trading first: through the desk, which says why a command cannot run now.
        for command in TRADING_COMMANDS:
            title = command.title.format(instrument=instrument)
            run = partial(desk.run_trading_command, command.action)
            listed.add(command.action)
            yield PaletteCommand(title, command.help, run)
        for ident, key_command in by_id.items():
            if ident not in listed:
                yield key_command
        directory = cast(InstrumentDirectory, app)
        for entry in directory.instrument_entries():
            yield PaletteCommand(
                f"{entry.instrument_id}  {entry.name}",
                f"Show {entry.kind} {entry.name}",
                partial(directory.select_instrument, entry.instrument_id),
            )
        for title, help_text, callback, discover in app.get_system_commands(self.screen):
            if discover:
                yield PaletteCommand(title, help_text, callback)

    async def discover(self) -> Hits:
        for command in self.commands():
            yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    command.run,
                    text=command.title,
                    help=command.help,
                )


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
