"""The strategy runner over the real OMS: failure isolation, the strategy budget, state."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from engine.domain.market_data import ASK, BID, TRADE, MarketBatch
from engine.domain.orders import OrderStatus
from engine.strategy.context import BUDGET_RULE, StrategyBudget
from engine.strategy.loader import load_strategy_class
from engine.strategy.runner import FAILED, RUNNING, StrategyRunner
from tests.support.trading import BTC, MS, Desk, desk_settings, open_desk

STRATEGIES = Path(__file__).parent / "strategies"


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    desk = open_desk(desk_settings(tmp_path))
    yield desk  # type: ignore[misc]
    desk.close()


def trade(desk: Desk, runner: StrategyRunner, side: int = BID, price: int = 50_000_000) -> None:
    desk.clock.advance(5 * MS)
    now = desk.clock.now_ns()
    batch = MarketBatch()
    batch.append(TRADE, desk.market.index_of(BTC), side, price, 100_000, now)  # type: ignore[arg-type]
    runner.process_batch(batch, now)


def test_a_raising_strategy_is_disabled_with_file_and_line_and_the_other_keeps_trading(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    runner = StrategyRunner(desk.oms, desk.clock)
    raiser = load_strategy_class(STRATEGIES / "raiser.py")
    scripted = load_strategy_class(STRATEGIES / "scripted.py")
    runner.add(raiser, {}, [BTC], strategy_id="raiser")
    runner.add(scripted, {"buy_on": 4, "sell_on": 6, "size": 0.01}, [BTC], strategy_id="other")
    with caplog.at_level(logging.ERROR, logger="stom.strategy"):
        for _ in range(6):
            trade(desk, runner)
            desk.advance(20)  # the paper latency: orders reach the book
    line = next(
        number
        for number, text in enumerate((STRATEGIES / "raiser.py").read_text().splitlines(), 1)
        if "RAISES HERE" in text
    )
    where = f"{STRATEGIES / 'raiser.py'}:{line}"
    [record] = [r for r in caplog.records if "raiser" in r.getMessage()]
    assert where in record.getMessage()
    assert "ZeroDivisionError" in record.getMessage()
    rows = {row.strategy_id: row for row in runner.rows()}
    assert rows["raiser"].state == FAILED and where in (rows["raiser"].error or "")
    assert runner.strategy("raiser").trades == 3  # type: ignore[attr-defined]  # never called again
    # The other strategy bought at its 4th trade and sold at its 6th, after the failure.
    assert rows["other"].state == RUNNING
    assert rows["other"].fills == 2
    assert runner.context("other").position(desk.market.index_of(BTC)) == 0  # type: ignore[arg-type]
    assert rows["other"].fees["KRW"] > 0
    with pytest.raises(ValueError, match="reload it first"):
        runner.enable("raiser")


def test_the_strategy_budget_denies_with_its_rule_in_the_journal(desk: Desk) -> None:
    runner = StrategyRunner(desk.oms, desk.clock)
    scripted = load_strategy_class(STRATEGIES / "scripted.py")
    budget = StrategyBudget(max_order_notional=Decimal("100000"))  # 0.01 BTC is ~500,000 KRW
    runner.add(scripted, {"buy_on": 1, "size": 0.01}, [BTC], budget, strategy_id="small")
    trade(desk, runner)
    [order] = [o for o in desk.oms.orders.values() if o.strategy_id == "small"]
    assert order.status is OrderStatus.DENIED
    assert order.reason is not None and order.reason.startswith(f"{BUDGET_RULE}: small: ")
    assert "max_order_notional 100000 KRW" in order.reason
    journaled = [
        e for _, e in desk.core.journal.events() if e.client_order_id == order.client_order_id
    ]
    assert [type(e).__name__ for e in journaled] == ["OrderDenied"]
    assert journaled[0].rule == BUDGET_RULE  # type: ignore[union-attr]


def test_disable_cancels_orders_and_state_survives_a_restart(desk: Desk) -> None:
    runner = StrategyRunner(desk.oms, desk.clock)
    quoter = load_strategy_class(STRATEGIES / "quoter.py")
    runner.add(quoter, {"size": 0.002}, [BTC], strategy_id="q")
    trade(desk, runner, ASK, 49_999_000)  # on_book runs at the first batch with a book change
    desk.refresh_books()
    runner.dispatch(MarketBatch(), desk.clock.now_ns())
    desk.advance(20)
    assert runner.context("q").open, "the quoter rests a bid"
    runner.disable("q")
    desk.advance(20)
    assert not runner.context("q").open
    assert runner.toggle("q") == RUNNING
    saved = runner.save_state()
    assert saved["q"]["enabled"] is True
    again = StrategyRunner(desk.oms, desk.clock)
    again.add(quoter, {"size": 0.002}, [BTC], strategy_id="q", state=saved["q"])
    assert again.state_of("q") == RUNNING


@pytest.mark.parametrize("callback", ["on_fill", "on_order"])
def test_a_raise_in_on_fill_or_on_order_disables_only_that_strategy(
    desk: Desk, callback: str
) -> None:
    scripted = load_strategy_class(STRATEGIES / "scripted.py")

    def boom(self: object, _: object) -> None:
        raise RuntimeError(f"{callback} broke")

    broken = type("Broken", (scripted,), {callback: boom})
    runner = StrategyRunner(desk.oms, desk.clock)
    runner.add(broken, {"buy_on": 1, "sell_on": 1000, "size": 0.01}, [BTC], strategy_id="bad")
    runner.add(scripted, {"buy_on": 2, "sell_on": 4, "size": 0.01}, [BTC], strategy_id="good")
    for _ in range(5):
        trade(desk, runner)
        desk.advance(20)
    rows = {row.strategy_id: row for row in runner.rows()}
    assert rows["bad"].state == FAILED
    assert f"in {callback}: RuntimeError" in (rows["bad"].error or "")
    # Its fill is still counted in its own position (the engine keeps it), nothing is doubled.
    index = desk.market.index_of(BTC)
    assert rows["bad"].fills == 1
    assert runner.context("bad").position(index) == 1_000_000  # type: ignore[arg-type]
    assert runner.strategy("bad").trades == 1  # type: ignore[attr-defined]
    assert rows["good"].state == RUNNING and rows["good"].fills == 2
    assert runner.context("good").position(index) == 0  # type: ignore[arg-type]


def test_a_book_handler_failing_does_not_replay_the_same_book_to_the_others(desk: Desk) -> None:
    from engine.strategy.api import Strategy

    seen: list[tuple[str, int]] = []

    class Watcher(Strategy):
        def on_book(self, i: int, ts: int) -> None:
            seen.append((self.ctx.strategy_id, self.ctx.state(i).book_seq))  # type: ignore[attr-defined]
            if self.ctx.strategy_id == "bad":  # type: ignore[attr-defined]
                raise RuntimeError("no")

    runner = StrategyRunner(desk.oms, desk.clock)
    runner.add(Watcher, {}, [BTC], strategy_id="bad")
    runner.add(Watcher, {}, [BTC], strategy_id="good")
    desk.refresh_books()
    runner.dispatch(MarketBatch(), desk.clock.now_ns())
    runner.dispatch(MarketBatch(), desk.clock.now_ns())  # no book change since
    assert runner.state_of("bad") == FAILED
    assert [who for who, _ in seen] == ["bad", "good"]


def test_a_strategy_removed_before_its_first_batch_never_starts(desk: Desk) -> None:
    from engine.strategy.api import Strategy

    started: list[int] = []

    class Starter(Strategy):
        def on_start(self) -> None:
            started.append(id(self))

    runner = StrategyRunner(desk.oms, desk.clock)
    runner.add(Starter, {}, [BTC], strategy_id="s")
    saved = runner.remove("s")  # a hot reload before any market data
    runner.add(Starter, {}, [BTC], strategy_id="s", state=saved)
    trade(desk, runner)
    assert started == [id(runner.strategy("s"))]


def test_sys_exit_in_a_strategy_disables_it_and_nothing_else(desk: Desk) -> None:
    runner = StrategyRunner(desk.oms, desk.clock)
    runner.add(load_strategy_class(STRATEGIES / "exiter.py"), {}, [BTC], strategy_id="exiter")
    scripted = load_strategy_class(STRATEGIES / "scripted.py")
    runner.add(scripted, {"buy_on": 2, "sell_on": 4, "size": 0.01}, [BTC], strategy_id="other")
    for _ in range(2):
        trade(desk, runner)  # SystemExit would end the test (and an engine) here
        desk.advance(20)
    assert runner.state_of("exiter") == "failed"
    assert runner.state_of("other") == "running"


@pytest.fixture
def short_desk(tmp_path: Path) -> Desk:
    """A desk whose engine risk allows short selling: only the strategy budget limits shorts."""
    settings = desk_settings(tmp_path)
    paper = msgspec.structs.replace(settings.paper, allow_short=True)
    desk = open_desk(msgspec.structs.replace(settings, paper=paper))
    yield desk  # type: ignore[misc]
    desk.close()


def _budget_desk(desk: Desk, budget: StrategyBudget) -> tuple[StrategyRunner, int]:
    from engine.strategy.api import Strategy

    class Manual(Strategy):
        """Sends nothing by itself: the test drives its context."""

    runner = StrategyRunner(desk.oms, desk.clock)
    runner.add(Manual, {}, [BTC], budget, strategy_id="m")
    return runner, desk.market.index_of(BTC)  # type: ignore[return-value]


def _statuses(desk: Desk, ids: list[str]) -> list[OrderStatus]:
    return [desk.oms.orders[client_order_id].status for client_order_id in ids]


def test_open_sells_beyond_the_long_position_count_against_the_budget(short_desk: Desk) -> None:
    desk = short_desk
    runner, i = _budget_desk(desk, StrategyBudget(max_position_notional=Decimal("600000")))
    ctx = runner.context("m")
    ctx.buy(i, 1_000_000)  # 0.01 BTC at the ask, 500,000 KRW
    desk.advance(20)
    assert ctx.position(i) == 1_000_000
    # Resting sells of 0.01 BTC at 51,000,000: the first closes the long, the second would
    # leave a 510,000 KRW short, the third a 1,020,000 KRW one (above the budget).
    ids = [ctx.sell(i, 1_000_000, 51_000_000) for _ in range(3)]
    desk.advance(20)
    assert _statuses(desk, ids) == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED, OrderStatus.DENIED]
    reason = desk.oms.orders[ids[2]].reason or ""
    assert reason.startswith(f"{BUDGET_RULE}: m: position value would reach 1020000.00000000 KRW")
    journaled = [e for _, e in desk.core.journal.events() if e.client_order_id == ids[2]]
    assert [type(e).__name__ for e in journaled] == ["OrderDenied"]


def test_a_close_alongside_open_sells_is_allowed_while_it_only_reduces(short_desk: Desk) -> None:
    desk = short_desk
    runner, i = _budget_desk(desk, StrategyBudget(max_position_notional=Decimal("300000")))
    ctx = runner.context("m")
    ctx.buy(i, 500_000)  # 0.005 BTC, 250,000 KRW
    ctx.buy(i, 500_000)  # the long may hold more than the budget was: it is already there
    desk.advance(20)
    assert _statuses(desk, [o.client_order_id for o in desk.oms.orders.values()])[-1] is (
        OrderStatus.DENIED
    )
    assert ctx.position(i) == 500_000
    resting = ctx.sell(i, 200_000, 51_000_000)
    closing = ctx.sell(i, 300_000, 51_000_000)  # with the resting sell: exactly flat
    desk.advance(20)
    assert _statuses(desk, [resting, closing]) == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED]
    ctx.cancel(resting)
    ctx.cancel(closing)
    desk.advance(20)
    market_close = ctx.close_position(i)
    desk.advance(20)
    assert market_close is not None
    assert desk.oms.orders[market_close].status is OrderStatus.FILLED
    assert ctx.position(i) == 0


def test_open_buys_beyond_the_short_position_count_against_the_budget(short_desk: Desk) -> None:
    desk = short_desk
    runner, i = _budget_desk(desk, StrategyBudget(max_position_notional=Decimal("600000")))
    ctx = runner.context("m")
    ctx.sell(i, 1_000_000)  # 0.01 BTC short at the bid, 499,990 KRW
    desk.advance(20)
    assert ctx.position(i) == -1_000_000
    ids = [ctx.buy(i, 1_000_000, 49_000_000) for _ in range(3)]
    desk.advance(20)
    assert _statuses(desk, ids) == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED, OrderStatus.DENIED]


def test_open_buys_beyond_max_position_from_flat_are_denied(short_desk: Desk) -> None:
    desk = short_desk
    runner, i = _budget_desk(desk, StrategyBudget(max_position_notional=Decimal("1000000")))
    ctx = runner.context("m")
    ids = [ctx.buy(i, 1_000_000, 49_000_000) for _ in range(3)]  # 490,000 KRW each
    desk.advance(20)
    assert _statuses(desk, ids) == [OrderStatus.ACCEPTED, OrderStatus.ACCEPTED, OrderStatus.DENIED]
