"""``md.history``: an instrument's recent trades and bars, from a real engine over a real broker.

A console that switches instrument or attaches shows history at once (issue 16). The engine
answers from the trade ring and bar series it keeps; the console's ``load_history`` decodes the
reply into typed rows. Unit tests pin the roll-up of 1-minute bars into 5 and 15 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from textual.message import Message

from engine.bars import TIMEFRAME_NS
from engine.cli.remote import RemoteEngine
from engine.config.broker_address import parse_broker_url
from engine.config.settings import BusSettings, Settings
from engine.domain.market_data import TRADE, MarketBatch
from engine.market_history import history_bars, recent_trades
from engine.market_state import MarketState
from engine.protocol.payloads import BarRow, Reply, TradeRow, Trades
from engine.protocol.results import MarketHistoryResult, result_of
from engine.sim.catalog import sim_instrument
from stom_tui.feed import MqttFeed
from stom_tui.market_history import HistoryUnavailable, load_history
from stom_tui.messages import FeedConnectionChanged
from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, Observer, unique_namespace

BTC = "KRW-BTC.SIM"
MINUTE = TIMEFRAME_NS["1m"]
START = 1_700_000_000 * 10**9 - (1_700_000_000 * 10**9) % TIMEFRAME_NS["15m"]


# --- units: the ring and the roll-up ------------------------------------------------------------


def _market(ring: int = 2000, bar_history: int = 120) -> MarketState:
    market = MarketState(trade_ring=ring, bar_history=bar_history)
    market.add(sim_instrument("KRW-BTC"))
    return market


def _trade(market: MarketState, ts: int, price: int, size: int, side: int = 0) -> None:
    batch = MarketBatch()
    batch.append(TRADE, 0, side, price, size, ts)
    market.apply(batch)


def test_recent_trades_are_the_newest_oldest_first_and_bounded_by_the_ring() -> None:
    market = _market(ring=2000)
    for n in range(2500):
        _trade(market, START + n, 100_000 + n, 1 + n, side=n % 2)
    state = market.at(0)
    rows = recent_trades(state, 5)
    assert [row.ts_event for row in rows] == [START + n for n in range(2495, 2500)]
    assert [row.side for row in rows] == ["sell", "buy", "sell", "buy", "sell"]
    assert len(recent_trades(state, 2000)) == 2000
    assert recent_trades(state, 2000)[0].ts_event == START + 500  # older ones fell off the ring
    assert recent_trades(state, 0) == []


def test_five_and_fifteen_minute_bars_agree_with_the_minute_bars() -> None:
    market = _market()
    # Two trades a minute for 31 minutes: 1m bars 0..30, the last one forming.
    for minute in range(31):
        ts = START + minute * MINUTE
        _trade(market, ts + 1, 1000 + minute, 2)
        _trade(market, ts + 2, 900 + minute, 3)
    state = market.at(0)
    minute_bars = history_bars(state, "1m")
    assert len(minute_bars) == 31 and minute_bars[-1].ts_open == START + 30 * MINUTE
    five = history_bars(state, "5m")
    assert [bar.ts_open for bar in five] == [START + k * 5 * MINUTE for k in range(7)]
    first = five[0]
    assert (first.open, first.high, first.low, first.close) == ("1000", "1004", "900", "904")
    assert (first.volume, first.trades) == ("0.00000025", 10)  # 5 minutes x 5 raw units
    assert five[-1].trades == 2  # the forming 5-minute bar holds minute 30 only
    fifteen = history_bars(state, "15m")
    assert [bar.trades for bar in fifteen] == [30, 30, 2]
    # The engine's own 5m bars are the minutes summed (the end-to-end test checks this too).
    _check_roll_up(minute_bars, five, "5m")


# --- the real path: engine subprocess, Mosquitto, RemoteEngine / MqttFeed ---------------------


@asynccontextmanager
async def running_engine(broker: Broker) -> AsyncIterator[tuple[EngineProcess, Observer]]:
    namespace = unique_namespace()
    engine = EngineProcess(broker.url, namespace, rate=2000).start()
    try:
        async with Observer(broker.host, broker.port, namespace) as observer:
            await observer.wait_status("running", 30)
            yield engine, observer
    finally:
        engine.stop()


def _observed_trades(observer: Observer) -> list[TradeRow]:
    rows: list[TradeRow] = []
    for message in observer.all(observer.topics.trades(BTC), Trades):
        rows.extend(message.trades)
    return rows


async def _history(remote: RemoteEngine, args: dict[str, object]) -> MarketHistoryResult:
    reply = await remote.request("md.history", args, timeout=10)
    assert reply.status == "accepted", reply.reason
    return result_of(reply, MarketHistoryResult)


@pytest.mark.integration
async def test_md_history_serves_recent_trades_and_bars(mosquitto: Broker) -> None:
    async with running_engine(mosquitto) as (engine, observer):
        settings = Settings(bus=BusSettings(url=mosquitto.url, namespace=engine.namespace))
        async with RemoteEngine(settings, parse_broker_url(mosquitto.url), None) as remote:
            # Enough trades and a few closed 1 s bars to ask for.
            await observer.wait_for(lambda: len(_observed_trades(observer)) >= 60, 30, "trades")
            await asyncio.sleep(2.5)
            result = await _history(remote, {"instrument": BTC, "trades": 40})
            assert result.instrument == BTC
            assert len(result.trades) == 40
            stamps = [row.ts_event for row in result.trades]
            assert stamps == sorted(stamps), "oldest first"
            assert set(result.bars) == {"1s", "1m", "5m", "15m"}
            seconds = result.bars["1s"]
            assert len(seconds) >= 2
            assert [bar.ts_open for bar in seconds] == sorted({bar.ts_open for bar in seconds})
            assert all(bar.ts_open % TIMEFRAME_NS["1s"] == 0 for bar in seconds)
            for timeframe in ("1m", "5m", "15m"):
                assert result.bars[timeframe], timeframe
                _check_roll_up(result.bars["1m"], result.bars[timeframe], timeframe)

            # The trades are the ones the engine published, in the same order, none missing.
            newest = result.trades[-1]
            await observer.wait_for(
                lambda: newest in _observed_trades(observer), 10, "the newest trade published"
            )
            published = _observed_trades(observer)
            assert any(
                published[start : start + 40] == result.trades for start in range(len(published))
            ), "not a run of the published trades"

            # Bounded by what is asked: none, or only some timeframes.
            only = await _history(remote, {"instrument": BTC, "trades": 0, "timeframes": ["5m"]})
            assert only.trades == [] and set(only.bars) == {"5m"}
            most = await _history(remote, {"instrument": BTC, "trades": 2000, "timeframes": []})
            assert 60 <= len(most.trades) <= 2000 and most.bars == {}

            # An unknown instrument is refused by name; bad arguments at the bus edge.
            bad = await remote.request("md.history", {"instrument": "NOPE.SIM"}, timeout=10)
            assert bad.status == "rejected" and bad.reason is not None
            assert "'NOPE.SIM'" in bad.reason and BTC in bad.reason, bad.reason
            for args, field in (
                ({"instrument": BTC, "trades": 2001}, "args.trades"),
                ({"instrument": BTC, "trades": -1}, "args.trades"),
                ({"instrument": BTC, "timeframes": ["2m"]}, "args.timeframes"),
                ({"instrument": BTC, "since": 1}, "args.since"),
            ):
                refused = await remote.request("md.history", args, timeout=10)
                assert refused.status == "rejected", args
                assert refused.reason is not None and field in refused.reason, refused.reason
        assert engine.process is not None and engine.process.poll() is None, engine.log()


def _check_roll_up(minutes: list[BarRow], rolled: list[BarRow], timeframe: str) -> None:
    """Each rolled-up bar sums the 1 m bars of its interval (all of them: none fell off yet)."""
    interval = TIMEFRAME_NS[timeframe]
    for bar in rolled:
        parts = [m for m in minutes if m.ts_open - m.ts_open % interval == bar.ts_open]
        assert parts, (timeframe, bar)
        assert bar.open == parts[0].open and bar.close == parts[-1].close
        assert bar.trades == sum(m.trades for m in parts)
        assert Decimal(bar.volume) == sum(Decimal(m.volume) for m in parts)
        assert Decimal(bar.high) == max(Decimal(m.high) for m in parts)


class _Recorder:
    """Stands in for the app: the feed only needs somewhere to post its messages."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def post_message(self, message: Message) -> bool:
        self.messages.append(message)
        return True


@pytest.mark.integration
async def test_load_history_decodes_the_engines_answer(mosquitto: Broker) -> None:
    async with running_engine(mosquitto) as (engine, observer):
        settings = Settings(bus=BusSettings(namespace=engine.namespace, keepalive_s=2))
        feed = MqttFeed(settings, host=mosquitto.host, port=mosquitto.port)
        app = _Recorder()
        task = asyncio.create_task(feed.run(app))  # type: ignore[arg-type]
        try:
            await observer.wait_for(lambda: len(_observed_trades(observer)) >= 20, 30, "trades")
            await observer.wait_for(
                lambda: any(isinstance(m, FeedConnectionChanged) for m in app.messages), 10
            )
            history = await load_history(feed, BTC, trades=20, timeframes=("1s", "15m"))
            assert history.instrument_id == BTC
            assert len(history.trades) == 20
            assert all(isinstance(row, TradeRow) for row in history.trades)
            assert all(row.side in ("buy", "sell") for row in history.trades)
            assert set(history.bars) == {"1s", "15m"}
            assert all(isinstance(bar, BarRow) for bar in history.bars["15m"])
            assert history.bars["15m"] and history.bars["15m"][-1].trades >= 20

            with pytest.raises(HistoryUnavailable, match=r"NOPE\.SIM"):
                await load_history(feed, "NOPE.SIM")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_load_history_says_why_when_the_engine_does_not_answer() -> None:
    class Silent:
        async def request(
            self, type: str, args: dict[str, object] | None = None, timeout: float = 2.0
        ) -> Reply:
            raise TimeoutError

    with pytest.raises(HistoryUnavailable, match=r"did not answer md\.history"):
        await load_history(Silent(), BTC, timeout=0.1)  # type: ignore[arg-type]


async def test_load_history_refuses_a_result_that_does_not_match() -> None:
    class Garbled:
        async def request(
            self, type: str, args: dict[str, object] | None = None, timeout: float = 2.0
        ) -> Reply:
            return Reply(
                id="1", type=type, status="accepted", ts=1, result={"instrument": BTC, "ts": 1}
            )

    with pytest.raises(HistoryUnavailable, match="malformed"):
        await load_history(Garbled(), BTC)  # type: ignore[arg-type]
