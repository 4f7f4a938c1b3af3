"""Checks on values that have the right type but may still be wrong (ranges, formats, files).

Each check reports ``(section, key, reason)``; the loader adds where the value came from, so the
reasons here never repeat the value's source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from engine.config.broker_address import parse_broker_url
from engine.config.errors import quote
from engine.config.settings import Settings
from engine.protocol.topics import check_namespace

LOG_LEVELS = ("debug", "info", "warning", "error")
JOURNAL_SYNC = ("normal", "full")
MAX_LATENCY_MS = 60_000.0
MAX_SIM_RATE = 100_000.0
"""What the engine keeps up with (bench/bench_load.py); beyond it the simulator would only skip
ahead (engine/sim/pacing.py). Generation alone tops out near 150,000 events/s per core."""
_MAX_SYMBOLS_LISTED = 12


class Problem(NamedTuple):
    """One invalid value: where it lives in the tree and what is wrong with it."""

    section: str
    key: str
    reason: str


class _IntRange(NamedTuple):
    section: str
    key: str
    low: int
    high: int
    unit: str


# Inclusive ranges. The limits keep a typo (an extra zero) from starving or flooding the bus.
_RANGES: tuple[_IntRange, ...] = (
    _IntRange("bus", "keepalive_s", 1, 3600, " seconds"),
    _IntRange("bus", "flush_hz", 1, 100, " per second"),
    _IntRange("engine", "bar_history", 1, 10_000, " bars"),
    _IntRange("engine", "trades_per_flush", 1, 100_000, " trades"),
    _IntRange("sim", "book_depth", 10, 200, " levels"),
    _IntRange("app", "tick_points", 10, 10_000, " points"),
)


def check_settings(settings: Settings, catalog: Mapping[str, Any] | None) -> list[Problem]:
    """Every semantic problem in ``settings``; ``catalog`` is the simulator's (None: unchecked)."""
    problems: list[Problem] = []
    checks: tuple[Callable[[Settings], list[Problem]], ...] = (
        _check_bus,
        _check_ranges,
        _check_engine,
        _check_sim_rate,
        _check_tls_files,
        _check_trading,
        _check_venues,
        _check_recorder,
        _check_alerts_and_logs,
        _check_strategies,
    )
    for check in checks:
        problems.extend(check(settings))
    problems.extend(_check_instruments(settings.sim.instruments, catalog))
    return problems


def _check_bus(settings: Settings) -> list[Problem]:
    problems = []
    for key, check in (("url", parse_broker_url), ("namespace", check_namespace)):
        try:
            check(getattr(settings.bus, key))
        except ValueError as exc:
            problems.append(Problem("bus", key, str(exc)))
    return problems


def _check_ranges(settings: Settings) -> list[Problem]:
    problems = []
    for section, key, low, high, unit in _RANGES:
        value = getattr(getattr(settings, section), key)
        # Written so NaN fails too.
        if not low <= value <= high:
            problems.append(Problem(section, key, f"expected {low} to {high}{unit}"))
    return problems


def _check_engine(settings: Settings) -> list[Problem]:
    if settings.engine.log_level in LOG_LEVELS:
        return []
    return [Problem("engine", "log_level", f"expected one of {', '.join(LOG_LEVELS)}")]


def _check_sim_rate(settings: Settings) -> list[Problem]:
    rate = settings.sim.rate
    if math.isfinite(rate) and 0 < rate <= MAX_SIM_RATE:
        return []
    reason = f"expected more than 0 and at most {MAX_SIM_RATE:,.0f} events per second"
    return [Problem("sim", "rate", reason)]


def _check_trading(settings: Settings) -> list[Problem]:
    """Paper and journal values; ``[risk]`` is parsed (and refused) by the risk engine itself."""
    problems = []
    if settings.journal.synchronous not in JOURNAL_SYNC:
        reason = f"expected one of {', '.join(JOURNAL_SYNC)}"
        problems.append(Problem("journal", "synchronous", reason))
    paper = settings.paper
    for key in ("order_latency_ms",):
        value = getattr(paper, key)
        if not 0 <= value <= MAX_LATENCY_MS:  # written so NaN fails too
            problems.append(Problem("paper", key, f"expected 0 to {MAX_LATENCY_MS:,.0f} ms"))
    for currency, text in paper.balances.items():
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount < 0:
            reason = f"{currency} = {text!r}: expected a non-negative decimal number"
            problems.append(Problem("paper", "balances", reason))
    return problems


VENUE_MODES = ("paper", "live")
_URL_SCHEMES = {"rest_url": ("http://", "https://"), "ws_url": ("ws://", "wss://")}


def _check_venues(settings: Settings) -> list[Problem]:
    problems = []
    for name in msgspec.structs.fields(settings.venues):
        venue = getattr(settings.venues, name.name)
        section = f"venues.{name.name}"
        if venue.mode not in VENUE_MODES:
            problems.append(Problem(section, "mode", f"expected one of {', '.join(VENUE_MODES)}"))
        if venue.enabled and not venue.symbols:
            reason = f"the venue needs symbols to stream: set [{section}] symbols"
            problems.append(Problem(section, "enabled", reason))
        duplicates = sorted({s for s in venue.symbols if venue.symbols.count(s) > 1})
        if duplicates:
            reason = f"{', '.join(duplicates)} listed more than once"
            problems.append(Problem(section, "symbols", reason))
        for key, schemes in _URL_SCHEMES.items():
            url = getattr(venue, key)
            if url and not url.startswith(schemes):
                reason = f"expected a URL starting with {' or '.join(schemes)}"
                problems.append(Problem(section, key, reason))
        if not 10 <= venue.poll_interval_ms <= MAX_LATENCY_MS:  # written so NaN fails too
            reason = f"expected 10 to {MAX_LATENCY_MS:,.0f} ms"
            problems.append(Problem(section, "poll_interval_ms", reason))
        if not 0 <= venue.book_depth <= 5000:  # Binance's deepest snapshot is 5,000 levels
            reason = "expected 0 (every level the venue sends) to 5,000 levels"
            problems.append(Problem(section, "book_depth", reason))
        problems += _check_sell_tax(section, venue.sell_tax)
    return problems


SELL_TAX_MARKETS = ("KOSPI", "KOSDAQ", "KONEX")


def _check_sell_tax(section: str, rates: Mapping[str, str]) -> list[Problem]:
    problems = []
    for market, text in rates.items():
        if market not in SELL_TAX_MARKETS:
            reason = f"unknown market {market!r}: expected {', '.join(SELL_TAX_MARKETS)}"
            problems.append(Problem(section, "sell_tax", reason))
            continue
        try:
            rate = Decimal(text)
        except InvalidOperation:
            rate = Decimal("NaN")
        if not rate.is_finite() or not 0 <= rate < 1:
            reason = f'{market} = {text!r}: expected a rate from 0 to below 1, e.g. "0.002"'
            problems.append(Problem(section, "sell_tax", reason))
    return problems


def _check_recorder(settings: Settings) -> list[Problem]:
    recorder = settings.recorder
    problems = []
    if not 0.05 <= recorder.flush_s <= 3600:  # written so NaN fails too
        problems.append(Problem("recorder", "flush_s", "expected 0.05 to 3600 seconds"))
    if not 100 <= recorder.rows_per_part <= 10_000_000:
        problems.append(Problem("recorder", "rows_per_part", "expected 100 to 10000000 rows"))
    for instrument_id in recorder.instruments:
        symbol, dot, venue = instrument_id.rpartition(".")
        if not (dot and symbol and venue.isupper()):
            reason = f"{instrument_id!r} is not an instrument id such as KRW-BTC.UPBIT"
            problems.append(Problem("recorder", "instruments", reason))
    return problems


LOG_FORMATS = ("text", "json")


def _check_alerts_and_logs(settings: Settings) -> list[Problem]:
    from engine.config.alert_settings import check_alerts

    problems = [Problem(*problem) for problem in check_alerts(settings.alerts)]
    engine = settings.engine
    if engine.log_format not in LOG_FORMATS:
        reason = f"expected one of {', '.join(LOG_FORMATS)}"
        problems.append(Problem("engine", "log_format", reason))
    if not 0.01 <= engine.log_max_mb <= 10_000:  # written so NaN fails too
        problems.append(Problem("engine", "log_max_mb", "expected 0.01 to 10000 MiB"))
    if not 1 <= engine.log_backups <= 1000:
        problems.append(Problem("engine", "log_backups", "expected 1 to 1000 files"))
    return problems


def _check_strategies(settings: Settings) -> list[Problem]:
    from engine.config.strategy_settings import check_strategies

    return [Problem(*problem) for problem in check_strategies(settings.strategies)]


def _check_tls_files(settings: Settings) -> list[Problem]:
    bus = settings.bus
    problems = []
    for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        name = getattr(bus, key)
        if not name:
            continue
        path = Path(name).expanduser()
        shown = _shown(str(path))
        try:
            is_file, exists = path.is_file(), path.exists()
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte in it
            problems.append(Problem("bus", key, f"cannot use {shown}: {exc}"))
            continue
        if not exists:
            problems.append(Problem("bus", key, f"file {shown} does not exist"))
        elif not is_file:
            problems.append(Problem("bus", key, f"{shown} is not a file"))
    if bus.tls_key_file and not bus.tls_cert_file:
        reason = "a client key needs its certificate: set [bus] tls_cert_file too"
        problems.append(Problem("bus", "tls_key_file", reason))
    return problems


def _check_instruments(symbols: list[str], catalog: Mapping[str, Any] | None) -> list[Problem]:
    def problem(reason: str) -> list[Problem]:
        return [Problem("sim", "instruments", reason)]

    if not symbols:
        return problem("expected at least one symbol")
    duplicates = sorted({symbol for symbol in symbols if symbols.count(symbol) > 1})
    if duplicates:
        return problem(f"{', '.join(duplicates)} listed more than once")
    if catalog is None:
        return []
    unknown = [symbol for symbol in symbols if symbol not in catalog]
    if not unknown:
        return []
    known = sorted(catalog)
    shown = ", ".join(known[:_MAX_SYMBOLS_LISTED])
    if len(known) > _MAX_SYMBOLS_LISTED:
        shown += ", …"
    return problem(
        f"not in the simulator's catalogue: {', '.join(_shown(symbol) for symbol in unknown)}"
        f" (it has {shown}; see `stom sim list`)"
    )


def _shown(text: str) -> str:
    """A value from the user inside a reason: as it is if short and printable, else quoted (a
    reason is one line, so a newline or 200 kB in a value must not reach it as they are)."""
    if len(text) <= 80 and text.isprintable():
        return text
    return quote(text)
