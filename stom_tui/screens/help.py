"""The help modal: every key of every screen, generated from the bindings.

The keys are collected from the classes, not written down twice: every screen and widget class
of the console that declares ``BINDINGS`` (found among the loaded subclasses of Textual's
``DOMNode``) gives one section, titled and ordered by :data:`SECTIONS`, listing its bindings
(its own and those of its STOM base classes) with their current keys (``[app.keymap]`` applied)
and ids. Textual's own keys (focus, quit, the palette, table cursors) follow, and the palette's
commands that have no key (the kill-switch reset …) close the list.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingsMap, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

from stom_tui.commands import PALETTE_ONLY_COMMANDS


@dataclass(frozen=True, slots=True)
class KeyHelp:
    """One binding as the user sees it."""

    keys: str
    description: str
    binding_id: str


@dataclass(frozen=True, slots=True)
class HelpSection:
    """The keys of one screen or pane, and where they work."""

    title: str
    where: str
    keys: list[KeyHelp]


SECTIONS: dict[str, tuple[str, str]] = {
    "StomApp": ("Everywhere", "on every screen"),
    "MainScreen": ("Market view", "the main screen; Esc or m comes back to the Market view"),
    "WatchlistPane": ("Watchlist", "while the watchlist has focus"),
    "PriceLadder": ("Price ladder", "while the ladder has focus (L)"),
    "LogPane": ("Log", "while the log has focus (l shows it)"),
    "OrderTicket": ("Order ticket", "b / s open it"),
    "ConfirmScreen": ("Confirmations", "cancel all, kill switch, arm"),
    "QuitScreen": ("Quit", "q while the engine this console started has work open"),
    "EngineFailedScreen": ("Engine failed to start", "shown when the engine cannot start"),
    "BacktestScreen": ("Backtest", "r opens it"),
    "OptimizeScreen": ("Optimizer", "o opens it"),
    "WalkForwardScreen": ("Walk-forward", "from the command palette"),
    "MonteCarloScreen": ("Monte Carlo", "from the command palette"),
    "SortableTable": ("Sortable tables", "leaderboards and trade lists on the research screens"),
    "LogSearchScreen": ("Log search", "/ in the log"),
    "HelpScreen": ("Help", "? opens it"),
}
"""Section title and where its keys work, by class name, in display order; a class not listed
here still gets a section (titled from its docstring), after these."""

TEXTUAL_SECTIONS: tuple[tuple[str, str, type[DOMNode]], ...] = (
    ("Everywhere (Textual)", "on every screen", App),
    ("Every screen (Textual)", "move the focus between panes and fields", Screen),
    ("Lists and tables", "watchlist, orders, positions, strategies", DataTable),
)


KEYED_PACKAGES = ("stom_tui.screens", "stom_tui.widgets")
"""Every module here is loaded before the classes are collected, so a screen the app has not
opened yet (and so not imported) is listed too."""


def load_keyed_modules() -> None:
    """Import every screen and widget module (by name: the help imports none of them, so no
    module imports the help back through them)."""
    for package_name in KEYED_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.iter_modules(package.__path__, f"{package_name}."):
            importlib.import_module(module.name)


def binding_classes() -> list[type[DOMNode]]:
    """Every console class (``stom_tui.*``) that declares bindings, in help order."""
    load_keyed_modules()
    found: dict[type[DOMNode], None] = {}
    pending: list[type[Any]] = [DOMNode]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("stom_tui.") and "BINDINGS" in sub.__dict__:
                found[sub] = None
    order = list(SECTIONS)

    def rank(cls: type[DOMNode]) -> tuple[int, str]:
        name = cls.__name__
        return (order.index(name) if name in order else len(order), name)

    return sorted(found, key=rank)


def own_bindings(cls: type[DOMNode]) -> list[Binding]:
    """The bindings ``cls`` and its console base classes declare (Textual's own excluded)."""
    bindings: list[BindingType] = []
    for base in reversed(cls.__mro__):
        if base.__module__.startswith("stom_tui.") and "BINDINGS" in base.__dict__:
            bindings.extend(base.__dict__["BINDINGS"])
    return list(Binding.make_bindings(bindings))


def key_help(app: App[Any], bindings: Iterable[Binding]) -> list[KeyHelp]:
    """One row per binding (by id), with every current key of it, ``[app.keymap]`` applied."""
    bindings_map = BindingsMap(list(bindings))
    bindings_map.apply_keymap(dict(app._keymap))  # the keymap the app was given (set_keymap)
    keys: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    ids: dict[str, str] = {}
    for binding_list in bindings_map.key_to_bindings.values():
        for binding in binding_list:
            if not binding.description:
                continue
            ident = binding.id or f"action:{binding.action}"  # Textual's own have no id
            ids[ident] = binding.id or ""
            display = app.get_key_display(binding)
            if display not in keys.setdefault(ident, []):
                keys[ident].append(display)
            descriptions[ident] = describe(binding)
    return [
        KeyHelp(", ".join(keys[ident]), descriptions[ident], ids.get(ident, "")) for ident in keys
    ]


def describe(binding: Binding) -> str:
    """What the key does: its tooltip (the footer's longer words) or its description."""
    return binding.tooltip or binding.description


def section_for(app: App[Any], cls: type[DOMNode]) -> HelpSection:
    title, where = SECTIONS.get(cls.__name__, (_title_from(cls), ""))
    bindings = own_bindings(cls)
    if cls is type(app):
        palette = Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
        bindings.append(palette)
    return HelpSection(title, where, key_help(app, bindings))


def help_sections(app: App[Any]) -> list[HelpSection]:
    """Every section of the help, generated from the bindings of the loaded classes."""
    classes = binding_classes()
    if type(app) not in classes and "BINDINGS" in type(app).__dict__:
        classes.insert(0, type(app))
    sections = [section_for(app, cls) for cls in classes]
    for title, where, textual_class in TEXTUAL_SECTIONS:
        # Textual's own keys for this kind of class (its private merge: the same the app uses).
        merged = textual_class._merge_bindings().key_to_bindings.values()
        inherited = [
            binding
            for bindings in merged
            for binding in bindings
            if binding.description and not binding.system
        ]
        sections.append(HelpSection(title, where, key_help(app, inherited)))
    palette = [
        KeyHelp("/ then type", f"{command.title}: {command.help}", command.action)
        for command in PALETTE_ONLY_COMMANDS
    ]
    sections.append(HelpSection("Command palette only", "/ opens the palette", palette))
    return [section for section in sections if section.keys]


class HelpScreen(ModalScreen[None]):
    """Lists every key (see the module docstring), scrolling when it does not fit. Escape or
    ``?`` closes it; ``q`` quits as everywhere."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark", "dismiss", "Close help", id="close_help"),
        Binding("up", "scroll('up')", "Scroll up", id="help_scroll_up", show=False),
        Binding("down", "scroll('down')", "Scroll down", id="help_scroll_down", show=False),
        Binding("pageup", "scroll('page_up')", "Page up", id="help_page_up", show=False),
        Binding("pagedown", "scroll('page_down')", "Page down", id="help_page_down", show=False),
        # Same id as the app's quit binding, so a keymap remap moves both.
        Binding("q", "app.quit", "Quit", id="quit"),
    ]

    def __init__(self, sections: Iterable[HelpSection | KeyHelp] | None = None) -> None:
        super().__init__()
        # A flat list of one screen's keys (what the app used to pass) is covered by the
        # generated sections; only whole sections replace them.
        given = [entry for entry in sections or () if isinstance(entry, HelpSection)]
        self.given = given or None
        self.shown: list[HelpSection] = []

    @property
    def sections(self) -> list[HelpSection]:
        """What the screen lists: the sections given, else every key of the app."""
        return self.given if self.given is not None else help_sections(self.app)

    def compose(self) -> ComposeResult:
        sections = self.sections
        self.shown = sections
        with VerticalScroll(id="help-panel") as panel:
            panel.border_title = "Keys"
            panel.border_subtitle = "Esc closes · ↑↓ PgUp PgDn scroll"
            yield Static(_back_to_market(sections), id="help-back")
            for index, section in enumerate(sections):
                yield Static(_table(section), id=f"help-section-{index}", classes="help-table")
            yield Static(
                'Remap a key in config.toml: [app.keymap] binding id = "keys", '
                'e.g. quit = "ctrl+q".',
                id="help-hint",
            )

    def action_scroll(self, how: str) -> None:
        panel = self.query_one("#help-panel", VerticalScroll)
        {
            "up": panel.scroll_up,
            "down": panel.scroll_down,
            "page_up": panel.scroll_page_up,
            "page_down": panel.scroll_page_down,
        }[how]()

    @property
    def bindings(self) -> list[KeyHelp]:
        """Every key listed, section after section."""
        return [entry for section in self.shown for entry in section.keys]

    @property
    def text(self) -> str:
        """Everything the screen lists, as plain text (for tests and search)."""
        lines = [_back_to_market(self.shown).plain]
        for section in self.shown:
            lines.append(f"{section.title} ({section.where})")
            lines += [f"{k.keys}\t{k.description}\t{k.binding_id}" for k in section.keys]
        return "\n".join(lines)


def _back_to_market(sections: list[HelpSection]) -> Text:
    """``Back to the Market view: Esc or m`` from the bindings that do it (their keys)."""
    keys = [
        entry.keys
        for section in sections
        for entry in section.keys
        if entry.binding_id in ("back", "show_market")
    ]
    text = Text("Back to the Market view: ", style="bold")
    text.append(" or ".join(dict.fromkeys(keys)) if keys else "Esc", style="bold reverse")
    return text


def _table(section: HelpSection) -> Table:
    table = Table(
        box=None,
        expand=True,
        show_edge=False,
        pad_edge=False,
        title=f"{section.title}" + (f" — {section.where}" if section.where else ""),
        title_justify="left",
        title_style="bold",
    )
    table.add_column("Key", style="bold", no_wrap=True, min_width=10)
    table.add_column("Action", ratio=1)
    table.add_column("Binding id", style="dim", no_wrap=True)
    for entry in section.keys:
        table.add_row(entry.keys, entry.description, entry.binding_id or "—")
    return table


def _title_from(cls: type[DOMNode]) -> str:
    """A section title from the class docstring's first sentence (else its name)."""
    doc = (cls.__doc__ or "").strip().split("\n", 1)[0].split(".", 1)[0].strip()
    return doc[:40] if doc else cls.__name__


def iter_bindings(classes: Iterable[type[DOMNode]]) -> Iterator[tuple[type[DOMNode], Binding]]:
    """Every described binding of ``classes`` (for checking the help against them)."""
    for cls in classes:
        for binding in own_bindings(cls):
            if binding.description:
                yield cls, binding
