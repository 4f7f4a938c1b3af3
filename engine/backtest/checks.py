"""What a backtest request is checked against before it runs: the recorded instruments, one
quote currency, a paper balance in it, positive notional limits. Each refusal is a ValueError
that names what is wrong (``stom backtest`` prints it and exits 2 or 1)."""

from __future__ import annotations

from decimal import Decimal

from engine.backtest.request import BacktestRequest
from engine.config.settings import Settings
from engine.domain.instrument import Instrument
from engine.storage.tick_store import TickStore
from engine.strategy.api import Strategy


def instrument_ids(request: BacktestRequest, cls: type[Strategy], store: TickStore) -> list[str]:
    """The instruments to replay: the request's, else the strategy's, else every recorded one;
    ValueError naming any that has no recorded data."""
    recorded = store.instrument_ids()
    ids = list(request.instruments) or list(cls.instruments) or recorded
    if not ids:
        raise ValueError(f"no recorded instruments in {store.root}")
    missing = [iid for iid in ids if iid not in recorded]
    if missing:
        raise ValueError(
            f"no recorded data for {', '.join(missing)} in {store.root}; "
            f"recorded: {', '.join(recorded) or 'nothing'}"
        )
    return ids


def quote_currency(instruments: list[Instrument]) -> str:
    """The one quote currency of ``instruments`` (ValueError when they are quoted in several)."""
    currencies = sorted({instrument.quote_currency for instrument in instruments})
    if len(currencies) != 1:
        raise ValueError(
            f"instruments are quoted in {', '.join(currencies)}: a backtest needs one quote "
            "currency (run one per currency)"
        )
    return currencies[0]


def initial_equity(settings: Settings, currency: str) -> Decimal:
    """The paper balance a run starts with in ``currency`` (ValueError when there is none)."""
    text = settings.paper.balances.get(currency)
    if text is None:
        raise ValueError(f"[paper] balances has no {currency} balance to trade these instruments")
    return Decimal(text)


def positive_decimal(text: str | None, field: str) -> Decimal | None:
    """``text`` as a positive Decimal (None stays None); ValueError naming ``field``."""
    if text is None:
        return None
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"{field} {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{field} {text!r} must be a positive number")
    return value
