"""The engine's strategy service: config → runner, hot reload, journal state, commands, rows."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from engine.commands import CommandRouter
from engine.config.strategy_settings import StrategiesSettings, StrategyEntry
from engine.domain.market_data import ASK, BID
from engine.outbox import Outbox
from engine.protocol import payloads as p
from engine.protocol.codec import decode
from engine.protocol.strategies import Strategies
from engine.protocol.topics import Topics
from engine.strategy.service import StrategyService
from tests.support.strategy_desk import STRATEGIES, StrategyDesk

BUYER = '''"""Buys 0.001 BTC on the first trade it sees, once."""
from engine.strategy.api import Param, Strategy


class Buyer(Strategy):
    size = Param(0.001, low=0.001, high=0.01, step=0.001, doc="BTC per order")

    def on_trade(self, i, price, size, side, ts):
        if not getattr(self, "done", False):
            self.done = True
            self.ctx.buy(i, self.ctx.size_raw(i, self.size))

    def save_state(self):
        return {"done": getattr(self, "done", False)}

    def load_state(self, state):
        self.done = state["done"]
'''


class Harness:
    """A service over the strategy desk's runner, journal and an outbox."""

    def __init__(self, desk: StrategyDesk, directory: Path, *entries: StrategyEntry) -> None:
        self.desk = desk
        self.outbox = Outbox()
        self.topics = Topics("test")
        settings = StrategiesSettings(dir=str(directory), enabled=list(entries))
        self.service = StrategyService(
            settings, desk.runner, desk.desk.core.journal, self.outbox, self.topics
        )
        self.router = CommandRouter(self.topics, desk.desk.clock)
        self.service.register(self.router)
        self.service.start()

    def rows(self) -> dict[str, Any]:
        self.service.collect(self.desk.desk.clock.now_ns())
        published = [m for m in self.outbox.take() if m.topic == self.topics.strategies]
        assert published and published[-1].retain
        payload = decode(published[-1].data, Strategies)
        return {row.id: row for row in payload.strategies}

    async def command(self, type_: str, **args: Any) -> p.Reply:
        return await self.router.handle(p.Command(id="c", type=type_, reply_to="x", args=args))


@pytest.fixture
def desk(tmp_path: Path):
    desk = StrategyDesk(tmp_path)
    yield desk
    desk.close()


def edit(path: Path, text: str) -> None:
    """Write ``text`` with a modification time that surely differs from the last one."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_a_broken_file_is_listed_with_file_and_line_and_the_others_run(
    desk: StrategyDesk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "buyer.py").write_text(BUYER)
    (tmp_path / "broken.py").write_text("x = 1\ny = nope\n")
    with caplog.at_level(logging.ERROR, "stom.strategy"):
        harness = Harness(
            desk,
            tmp_path,
            StrategyEntry(file="buyer.py", instruments=["KRW-BTC.SIM"]),
            StrategyEntry(file="broken.py", instruments=["KRW-BTC.SIM"]),
        )
    rows = harness.rows()
    assert rows["buyer"].state == "enabled" and rows["buyer"].name == "Buyer"
    assert rows["buyer"].params[0].name == "size" and rows["buyer"].params[0].high == 0.01
    broken = rows["broken"]
    assert broken.state == "error"
    assert broken.error == f"{tmp_path / 'broken.py'}:2: NameError: name 'nope' is not defined"
    assert f"{tmp_path / 'broken.py'}:2: NameError" in caplog.text
    desk.trade(BID, 50_000_000)
    desk.settle()
    assert desk.position("buyer") == 100_000
    rows = harness.rows()
    assert rows["buyer"].fills == 1 and rows["buyer"].currency == "KRW"
    assert rows["buyer"].fees != "0"


def test_hot_reload_disables_a_broken_edit_and_brings_the_fix_back_with_its_state(
    desk: StrategyDesk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "buyer.py"
    path.write_text(BUYER)
    harness = Harness(desk, tmp_path, StrategyEntry(file="buyer.py", instruments=["KRW-BTC.SIM"]))
    desk.trade(BID, 50_000_000)
    desk.settle()
    assert desk.position("buyer") == 100_000
    assert harness.service.poll_files() == []

    edit(path, BUYER.replace("class Buyer", "class Buyer(\n"))  # a syntax error on line 5
    with caplog.at_level(logging.ERROR, "stom.strategy"):
        assert harness.service.poll_files() == ["buyer"]
    row = harness.rows()["buyer"]
    assert row.state == "error" and row.error is not None
    assert row.error.startswith(f"{path}:5: SyntaxError")
    assert f"{path}:5: SyntaxError" in caplog.text
    assert "buyer" not in desk.runner.ids()

    edit(path, BUYER.replace("doc=", "doc='edited ' + "))
    assert harness.service.poll_files() == ["buyer"]
    row = harness.rows()["buyer"]
    assert row.state == "enabled" and row.error is None
    assert desk.position("buyer") == 100_000  # the position came through the reload
    desk.trade(BID, 50_000_000)
    desk.settle()
    assert desk.position("buyer") == 100_000  # and so did its own state: it does not buy again


BIDDER = """
from engine.strategy.api import Strategy


class Bidder(Strategy):
    def on_trade(self, i, price, size, side, ts):
        if not getattr(self, "done", False):
            self.done = True
            self.ctx.buy(i, self.ctx.size_raw(i, 0.001), self.ctx.best_bid(i) - 100_000)

    def save_state(self):
        return {"done": getattr(self, "done", False)}

    def load_state(self, state):
        self.done = state["done"]
"""


def test_a_fill_racing_the_cancel_of_a_broken_edit_reaches_the_fixed_strategy(
    desk: StrategyDesk, tmp_path: Path
) -> None:
    path = tmp_path / "bidder.py"
    path.write_text(BIDDER)
    harness = Harness(desk, tmp_path, StrategyEntry(file="bidder.py", instruments=["KRW-BTC.SIM"]))
    desk.book(50_000_000, 50_010_000, 1_000_000, 1_000_000)
    desk.trade(BID, 50_005_000)
    desk.settle()  # the bid rests at 49,900,000
    edit(path, BIDDER.replace("class Bidder", "class Bidder(\n"))
    assert harness.service.poll_files() == ["bidder"]  # its cancel is on the way
    desk.trade(ASK, 49_900_000, size=5_000_000, ms=1)  # ... and the fill wins the race
    desk.settle()
    [order] = desk.orders("bidder")
    assert order.filled_raw == 100_000
    harness.service.save()
    saved = desk.desk.core.journal.state("strategies")["bidder"]
    assert saved["positions"]["KRW-BTC.SIM"]["quantity_raw"] == 100_000
    assert saved["fills"] == 1
    edit(path, BIDDER)
    assert harness.service.poll_files() == ["bidder"]
    assert desk.position("bidder") == 100_000
    assert harness.rows()["bidder"].fills == 1


def test_a_callback_that_raises_shows_file_and_line_and_a_fix_restores_it(
    desk: StrategyDesk, tmp_path: Path
) -> None:
    path = tmp_path / "buyer.py"
    path.write_text(BUYER.replace("self.done = True", "self.done = 1 / 0"))
    harness = Harness(desk, tmp_path, StrategyEntry(file="buyer.py", instruments=["KRW-BTC.SIM"]))
    desk.trade(BID, 50_000_000)
    row = harness.rows()["buyer"]
    assert row.state == "error"
    assert row.error is not None and f"{path}:10" in row.error and "ZeroDivisionError" in row.error
    edit(path, BUYER)
    harness.service.poll_files()
    assert harness.rows()["buyer"].state == "enabled"


async def test_commands_toggle_set_parameters_and_reject_bad_input(
    desk: StrategyDesk, tmp_path: Path
) -> None:
    (tmp_path / "buyer.py").write_text(BUYER)
    harness = Harness(desk, tmp_path, StrategyEntry(file="buyer.py", instruments=["KRW-BTC.SIM"]))
    reply = await harness.command("strategy.toggle", id="buyer")
    assert reply.status == "accepted"
    assert reply.result is not None and reply.result["strategy"]["state"] == "disabled"
    desk.trade(BID, 50_000_000)
    desk.settle()
    assert desk.position("buyer") == 0  # disabled: nothing happens

    reply = await harness.command("strategy.params", id="buyer", params={"size": 0.5})
    assert reply.status == "rejected"
    assert reply.reason == "parameter size: 0.5 is above its high bound 0.01"
    reply = await harness.command("strategy.params", id="buyer", params={"speed": 1})
    assert reply.status == "rejected" and "unknown parameter(s) speed" in (reply.reason or "")
    reply = await harness.command("strategy.params", id="nope", params={"size": 0.002})
    assert reply.status == "rejected" and "unknown strategy 'nope'; configured: buyer" in (
        reply.reason or ""
    )
    reply = await harness.command("strategy.params", id="buyer", params={"size": 0.002})
    assert reply.status == "accepted" and reply.result is not None
    assert reply.result["strategy"]["state"] == "disabled"  # parameters do not start it
    assert reply.result["strategy"]["params"][0]["value"] == 0.002

    reply = await harness.command("strategy.toggle", id="buyer")
    assert reply.result is not None and reply.result["strategy"]["state"] == "enabled"
    desk.trade(BID, 50_000_000)
    desk.settle()
    assert desk.position("buyer") == 200_000

    listing = await harness.command("strategy.list")
    assert listing.result is not None
    assert [row["id"] for row in listing.result["strategies"]] == ["buyer"]
    assert listing.result["files"] == ["buyer.py"]


async def test_state_and_the_on_off_choice_survive_a_restart(
    desk: StrategyDesk, tmp_path: Path
) -> None:
    (tmp_path / "buyer.py").write_text(BUYER)
    entry = StrategyEntry(file="buyer.py", id="b1", instruments=["KRW-BTC.SIM"])
    harness = Harness(desk, tmp_path, entry)
    desk.trade(BID, 50_000_000)
    desk.settle()
    harness.rows()  # collect saves once the fills moved
    await harness.command("strategy.toggle", id="b1")
    harness.service.stop()
    for strategy_id in desk.runner.ids():
        desk.runner.remove(strategy_id)

    again = Harness(desk, tmp_path, entry)  # same journal: a restarted engine
    row = again.rows()["b1"]
    assert row.state == "disabled" and row.fills == 1
    assert desk.position("b1") == 100_000
    assert desk.runner.strategy("b1").done is True  # type: ignore[attr-defined]


def test_every_template_runs_from_the_shipped_folder(desk: StrategyDesk) -> None:
    entries = [
        StrategyEntry(file=name, instruments=["KRW-BTC.SIM"])
        for name in (
            "tick_momentum.py",
            "book_imbalance.py",
            "vwap_reversion.py",
            "opening_range.py",
        )
    ]
    harness = Harness(desk, STRATEGIES, *entries)
    rows = harness.rows()
    assert {row.id: row.state for row in rows.values()} == {
        "tick_momentum": "enabled",
        "book_imbalance": "enabled",
        "vwap_reversion": "enabled",
        "opening_range": "enabled",
    }
    assert set(harness.service.files()) >= {"tick_momentum.py", "opening_range.py"}


async def test_describe_lists_a_files_parameters_or_names_its_error(
    desk: StrategyDesk, tmp_path: Path
) -> None:
    (tmp_path / "buyer.py").write_text(BUYER)
    (tmp_path / "broken.py").write_text("x = (\n")
    harness = Harness(desk, tmp_path)
    reply = await harness.command("strategy.describe", file="buyer.py")
    assert reply.status == "accepted" and reply.result is not None
    assert reply.result["name"] == "Buyer"
    assert reply.result["params"] == [
        {"name": "size", "value": 0.001, "default": 0.001, "low": 0.001, "high": 0.01,
         "step": 0.001, "doc": "BTC per order"}
    ]  # fmt: skip
    reply = await harness.command("strategy.describe", file="broken.py")
    assert reply.status == "rejected"
    assert (reply.reason or "").startswith(f"{tmp_path / 'broken.py'}:1: SyntaxError")
    reply = await harness.command("strategy.describe", file="../etc/passwd")
    assert reply.status == "rejected" and "expected a .py file" in (reply.reason or "")


def test_bad_strategy_config_is_refused_naming_file_key_and_value(tmp_path: Path) -> None:
    from engine.config.loader import ConfigError, load_settings

    config = tmp_path / "config.toml"
    config.write_text(
        "[strategies]\nreload_s = 0\n"
        '[[strategies.enabled]]\nfile = "a.py"\nbudget = { max_order_notional = "lots" }\n'
        '[[strategies.enabled]]\nfile = "a.py"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    text = str(caught.value)
    assert f"{config}: [strategies] reload_s = 0: expected 0.1 to 60 seconds" in text
    assert "entry 1 (a.py): budget.max_order_notional: expected a positive decimal" in text
    assert "entry 2 (a.py): id 'a' is used twice" in text
