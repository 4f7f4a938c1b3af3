"""Opening the trading core: journal, recovery, the paper venue, risk, and reconciliation.

On start the engine rebuilds orders, fills and positions exactly from the journal, puts the open
orders back on the venue (for paper: the paper exchange, which keeps no state of its own), and
reports any difference between the journal and the venue. The account is rebuilt from the starting
balances recorded in the journal (not the config, which may have changed) plus every fill.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from engine.config.settings import Settings
from engine.domain.clock import Clock
from engine.domain.order_venue import OrderVenue
from engine.domain.orders import Order, OrderStatus
from engine.journal import Journal, recover
from engine.market_state import MarketState
from engine.oms.account import PaperAccount
from engine.oms.oms import Oms
from engine.paper import PaperExchange
from engine.risk import (
    EXIT_STRATEGY_ID,
    PostTradeRisk,
    PreTradeRisk,
    ProtectiveExits,
    RiskLimits,
    RiskState,
)
from engine.venues.live_exchange import LiveExchange
from engine.venues.router import (
    MODES_KEY,
    LiveOrdersLeftOpen,
    VenueRouter,
    live_orders_left_open,
    venue_modes,
    venue_of,
)

log = logging.getLogger("stom.oms")

PAPER_VENUES = frozenset({"SIM"})


@dataclass
class TradingCore:
    oms: Oms
    exchange: OrderVenue
    journal: Journal
    differences: list[str]
    restored_open_orders: int


def journal_path(settings: Settings) -> Path:
    if settings.journal.file:
        return Path(settings.journal.file).expanduser()
    return Path(settings.data.dir).expanduser() / f"journal-{settings.bus.namespace}.sqlite"


def starting_balances(journal: Journal, settings: Settings) -> dict[str, Decimal]:
    stored = journal.state("account.start")
    source = stored if isinstance(stored, dict) else settings.paper.balances
    balances: dict[str, Decimal] = {}
    for currency, text in source.items():
        try:
            balances[str(currency)] = Decimal(str(text))
        except InvalidOperation:
            raise ValueError(f"[paper] balances.{currency}: {text!r} is not a number") from None
    if not isinstance(stored, dict):
        journal.append([], state={"account.start": {k: str(v) for k, v in balances.items()}})
    return balances


def open_trading_core(
    settings: Settings,
    market: MarketState,
    clock: Clock,
    *,
    live_venues: frozenset[str] = frozenset(),
    live_exchanges: Mapping[str, LiveExchange] | None = None,
) -> TradingCore:
    """Open the journal, rebuild from it, and put open orders back on the venue.

    ``live_venues`` send real orders and need arming; the simulator is paper and needs none.
    ``live_exchanges`` (venue code -> :class:`LiveExchange`) route those venues' orders to the
    venue (through a :class:`VenueRouter`); their open orders are reconciled with the venue once
    each live exchange's worker runs. Their codes are live venues too.
    """
    if live_exchanges:
        live_venues = live_venues | frozenset(live_exchanges)
    journal = Journal(journal_path(settings), synchronous=settings.journal.synchronous)
    try:
        return _open(settings, market, clock, journal, live_venues, live_exchanges or {})
    except BaseException:
        journal.close()
        raise


def _open(
    settings: Settings,
    market: MarketState,
    clock: Clock,
    journal: Journal,
    live_venues: frozenset[str],
    live_exchanges: Mapping[str, LiveExchange],
) -> TradingCore:
    recovered = recover(journal)
    now = clock.now_ns()
    account = PaperAccount(starting_balances(journal, settings))
    limits = RiskLimits.from_settings(settings.risk)
    stored_risk = journal.state("risk")
    risk_state = RiskState.from_dict(stored_risk) if isinstance(stored_risk, dict) else RiskState()
    exits = ProtectiveExits(limits.exits)
    stored_exits = journal.state("exits")
    if isinstance(stored_exits, dict):
        instruments = {str(i.id): i for i in market.instruments()}
        exits = ProtectiveExits.from_dict(stored_exits, instruments, limits.exits)
    paper = PaperExchange(
        market,
        order_latency_ns=int(settings.paper.order_latency_ms * 1_000_000),
        id_prefix=f"P{recovered.last_seq}-",
    )
    # Which exchange took the journal's open orders: the venues' modes in the last run.
    previous_modes = journal.state(MODES_KEY)
    open_orders = [order for order in recovered.orders.values() if order.is_open]
    exits.forget_orphan_signals(
        {order.instrument_id for order in open_orders if order.strategy_id == EXIT_STRATEGY_ID}
    )
    left_live = live_orders_left_open(previous_modes, open_orders, live_exchanges)
    if left_live:  # refused before the modes are recorded, so the next start refuses too
        raise LiveOrdersLeftOpen("\n".join(left_live))
    venues = {venue_of(str(instrument.id)) for instrument in market.instruments()}
    journal.append([], state={MODES_KEY: venue_modes(previous_modes, venues, live_exchanges)})
    exchange: OrderVenue = (
        VenueRouter(paper, live_exchanges, previous_modes=previous_modes)
        if live_exchanges
        else paper
    )
    oms = Oms(
        market=market,
        exchange=exchange,
        journal=journal,
        account=account,
        pre_trade=PreTradeRisk(
            limits, risk_state, allow_short=settings.paper.allow_short, live_venues=live_venues
        ),
        post_trade=PostTradeRisk(limits, risk_state),
        exits=exits,
        risk_state=risk_state,
        limits=limits,
    )
    differences = list(recovered.differences)
    oms.orders = dict(recovered.orders)
    oms.positions = dict(recovered.positions)
    for live in live_exchanges.values():  # checked against the venue's balances after fills
        live.held_positions = lambda: {iid: pos.quantity_raw for iid, pos in oms.positions.items()}
    for fill in recovered.fills:
        order = recovered.orders.get(fill.client_order_id)
        instrument = oms.instrument(order.instrument_id) if order is not None else None
        if order is None or instrument is None:
            differences.append(
                f"fill {fill.trade_id} of order {fill.client_order_id}: instrument not traded "
                "by this engine; left out of the balances"
            )
            continue
        account.on_fill(
            order,
            instrument,
            fill.price_raw,
            fill.quantity_raw,
            fill.fee_raw,
            fee_base_raw=fill.fee_base_raw,
            fee_asset=fill.fee_asset,
            fee_charged=fill.fee_charged,
        )
    restored = 0
    trade_ids: dict[str, set[str]] = {}
    for fill in recovered.fills:
        trade_ids.setdefault(fill.client_order_id, set()).add(fill.trade_id)
    for order in recovered.orders.values():
        if not order.is_open:
            continue
        instrument = oms.instrument(order.instrument_id)
        if instrument is None:
            differences.append(
                f"open order {order.client_order_id} on {order.instrument_id}: this engine does "
                "not trade that instrument; it stays open in the journal only"
            )
            continue
        oms.open[order.client_order_id] = order
        account.lock(order, instrument, oms.lock_price(order, instrument))
        if isinstance(exchange, VenueRouter):
            exchange.resume(order, now, trade_ids.get(order.client_order_id, set()))
        else:
            _back_on_venue(exchange, order, now)
        restored += 1
    differences.extend(_reconcile(oms, exchange))
    for line in differences:
        log.warning("reconciliation: %s", line)
    log.info(
        "journal %s: %d orders (%d open), %d fills, %d positions rebuilt; %s",
        journal.path,
        len(oms.orders),
        restored,
        len(recovered.fills),
        sum(1 for position in oms.positions.values() if not position.is_flat),
        f"{len(differences)} difference(s)" if differences else "no differences with SIM",
    )
    return TradingCore(oms, exchange, journal, differences, restored)


def _back_on_venue(exchange: OrderVenue, order: Order, now: int) -> None:
    if order.status is OrderStatus.SUBMITTED:
        exchange.submit(order, now)  # never acknowledged: it is sent again
    else:
        exchange.restore(order, now)
        if order.status is OrderStatus.PENDING_CANCEL:
            exchange.cancel(order.client_order_id, now)


def _reconcile(oms: Oms, exchange: OrderVenue) -> list[str]:
    journal_open = set(oms.open)
    venue_open = exchange.open_order_ids()
    differences = [
        f"order {coid} is open in the journal but not on the venue"
        for coid in sorted(journal_open - venue_open)
    ]
    differences += [
        f"order {coid} is open on the venue but not in the journal"
        for coid in sorted(venue_open - journal_open)
    ]
    return differences
