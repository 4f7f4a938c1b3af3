"""Strategy isolation through the real runner, loader and service: a budget and a barrier around
every call into strategy code, non-blocking loads, an order-rate limit, tamper checks.

Each bad strategy trades beside a good one on the in-process desk: the bad one ends ``failed``
with ``file:line`` and the reason, its orders cancelled; the good one keeps trading."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.domain.market_data import BID
from engine.strategy.guard import WATCHDOG
from engine.strategy.loader import MAX_FILE_BYTES, StrategyLoadError, load_strategy_class
from engine.strategy.runner import FAILED, RUNNING
from tests.support.strategy_desk import StrategyDesk
from tests.support.trading import BTC

GOOD = """
from engine.strategy.api import Strategy


class Good(Strategy):
    def on_trade(self, i, price, size, side, ts):
        if not self.ctx.open_orders(i):
            self.ctx.buy(i, self.ctx.size_raw(i, 0.001), self.ctx.best_bid(i) - 1_000_000)
"""

BAD_TEMPLATE = """
import asyncio, signal, sys, time
from engine.strategy.api import Strategy


class Bad(Strategy):
    def on_trade(self, i, price, size, side, ts):
        self.ctx.buy(i, self.ctx.size_raw(i, 0.001), self.ctx.best_bid(i) - 2_000_000)
        {body}
"""

CALLBACK_BODIES = {
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    "GeneratorExit": "raise GeneratorExit",
    "SystemExit": "sys.exit(4)",
    "BaseException": "raise BaseException('raw')",
    "RecursionError": "(lambda f: f(f))(lambda f: f(f))",
    "CancelledError": "raise asyncio.CancelledError()",
    "CallbackOverrun": "while True: pass",
    "sleep": "time.sleep(30)",
}


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[StrategyDesk]:
    desk = StrategyDesk(tmp_path)
    yield desk
    desk.close()


@pytest.fixture(autouse=True)
def short_budgets() -> Iterator[None]:
    WATCHDOG.start()
    saved = WATCHDOG.budget_s, WATCHDOG.callback_budget_s, WATCHDOG.load_budget_s
    WATCHDOG.budget_s = WATCHDOG.callback_budget_s = 0.2
    WATCHDOG.load_budget_s = 0.3
    yield
    WATCHDOG.budget_s, WATCHDOG.callback_budget_s, WATCHDOG.load_budget_s = saved


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _good_and_bad(desk: StrategyDesk, tmp_path: Path, body: str) -> Path:
    good = load_strategy_class(_write(tmp_path, "good.py", GOOD))
    bad_path = _write(tmp_path, "bad.py", BAD_TEMPLATE.format(body=body))
    desk.runner.add(good, {}, [BTC], strategy_id="good")
    desk.runner.add(load_strategy_class(bad_path), {}, [BTC], strategy_id="bad")
    desk.book(50_000_000, 50_010_000, 1_000_000, 1_000_000)
    return bad_path


@pytest.mark.parametrize("kind", sorted(CALLBACK_BODIES))
def test_anything_a_callback_raises_or_a_hang_disables_only_that_strategy(
    desk: StrategyDesk, tmp_path: Path, kind: str
) -> None:
    bad_path = _good_and_bad(desk, tmp_path, CALLBACK_BODIES[kind])
    started = time.monotonic()
    desk.trade(BID, 50_005_000)
    assert time.monotonic() - started < 3, "the watchdog ends a hang within its budget"
    desk.settle()
    rows = {row.strategy_id: row for row in desk.runner.rows()}
    assert rows["bad"].state == FAILED
    error = rows["bad"].error or ""
    assert f"{bad_path}:" in error and "in on_trade" in error, error
    expected = {"sleep": "CallbackOverrun", "CancelledError": "CancelledError"}.get(kind, kind)
    assert expected in error, error
    assert not [order for order in desk.orders("bad") if order.is_open], "its orders cancelled"
    assert rows["good"].state == RUNNING and rows["good"].open_orders == 1
    desk.trade(BID, 50_005_000)
    assert desk.runner.state_of("good") == RUNNING
    assert sys.getrecursionlimit() >= 1000


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("sys.exit(4)", "SystemExit: 4"),
        ("raise GeneratorExit", "GeneratorExit"),
        ("while True: pass", "CallbackOverrun"),
        ("time.sleep(30)", "CallbackOverrun"),
    ],
)
def test_a_constructor_that_raises_or_hangs_is_refused_with_file_and_line(
    desk: StrategyDesk, tmp_path: Path, body: str, reason: str
) -> None:
    path = _write(
        tmp_path,
        "init.py",
        "import sys, time\nfrom engine.strategy.api import Strategy\n\n\n"
        f"class Init(Strategy):\n    def __init__(self, ctx, params=None):\n        {body}\n",
    )
    cls = load_strategy_class(path)
    with pytest.raises(ValueError, match=reason) as caught:
        desk.runner.add(cls, {}, [BTC], strategy_id="init")
    assert f"{path}:7 in __init__" in str(caught.value)
    assert desk.runner.ids() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("raise BaseException('at import')", "BaseException: at import"),
        ("time.sleep(30)", "CallbackOverrun"),
        ("while True: pass", "CallbackOverrun"),
    ],
)
def test_an_import_that_raises_or_hangs_is_refused(tmp_path: Path, body: str, reason: str) -> None:
    path = _write(tmp_path, "imp.py", f"import time\n{body}\n")
    started = time.monotonic()
    with pytest.raises(StrategyLoadError, match=reason) as caught:
        load_strategy_class(path)
    assert time.monotonic() - started < 3
    assert str(caught.value).startswith(f"{path}:2: ")


def test_loading_never_blocks_on_what_is_not_a_small_readable_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.py"
    folder.mkdir()
    large = _write(tmp_path, "large.py", "#" * (MAX_FILE_BYTES + 1))
    locked = _write(tmp_path, "locked.py", GOOD)
    locked.chmod(0)
    cases = {
        fifo: "a FIFO, not a regular file: refused",
        folder: "a directory, not a regular file: refused",
        large: f"{MAX_FILE_BYTES + 1:,} bytes, larger than {MAX_FILE_BYTES:,}: refused",
        Path("/dev/zero"): "a device, not a regular file: refused",
        tmp_path / "missing.py": "cannot read the file: No such file or directory",
    }
    if os.geteuid() != 0:  # root reads anything
        cases[locked] = "cannot read the file: Permission denied"
    started = time.monotonic()
    for path, reason in cases.items():
        with pytest.raises(StrategyLoadError) as caught:
            load_strategy_class(path)
        assert str(caught.value) == f"{path}: {reason}"
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("returned", "reason"),
    [
        ("{'when': object()}", "save_state returned what JSON cannot hold (TypeError"),
        ("[1, 2]", "save_state returned a list, not a dict"),
        ("{'big': 'x' * 2_000_000}", "above the 1,000,000 limit"),
    ],
)
def test_a_save_state_json_cannot_hold_disables_the_strategy_with_the_reason(
    desk: StrategyDesk, tmp_path: Path, returned: str, reason: str
) -> None:
    path = _write(
        tmp_path,
        "saver.py",
        "from engine.strategy.api import Strategy\n\n\nclass Saver(Strategy):\n"
        f"    def save_state(self):\n        return {returned}\n",
    )
    desk.runner.add(load_strategy_class(path), {}, [BTC], strategy_id="saver")
    saved = desk.runner.save_state()["saver"]
    assert saved["strategy"] == {} and saved["enabled"] is False
    error = desk.runner.rows()[0].error or ""
    assert error.startswith(f"{path}: ") and reason in error, error


def test_an_order_storm_is_stopped_by_the_rate_limit(desk: StrategyDesk, tmp_path: Path) -> None:
    # 200 orders per trade, each swallowing whatever the engine raises into it.
    bad_path = _good_and_bad(
        desk,
        tmp_path,
        "for _ in range(200):\n"
        "            try:\n"
        "                self.ctx.buy(i, self.ctx.size_raw(i, 0.001), 1_000_000)\n"
        "            except BaseException:\n"
        "                pass",
    )
    desk.trade(BID, 50_005_000)
    desk.trade(BID, 50_005_000)
    desk.settle()
    row = {row.strategy_id: row for row in desk.runner.rows()}["bad"]
    assert row.state == FAILED
    assert f"{bad_path}:" in (row.error or "") and "order-rate limit" in (row.error or "")
    assert len(desk.orders("bad")) <= 51
    assert not [order for order in desk.orders("bad") if order.is_open]
    assert desk.runner.state_of("good") == RUNNING


def test_a_strategy_cannot_lower_the_recursion_limit_or_take_sigterm(
    desk: StrategyDesk, tmp_path: Path
) -> None:
    limit = sys.getrecursionlimit()
    handler = signal.getsignal(signal.SIGTERM)
    # Lowered, not to almost nothing: until it is put back the limit holds for every thread of
    # this process (the test runner's own included).
    path = _write(
        tmp_path,
        "tamper.py",
        "import signal, sys\nfrom engine.strategy.api import Strategy\n\n\n"
        "class Tamper(Strategy):\n    def on_start(self):\n"
        "        sys.setrecursionlimit(300)\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n",
    )
    desk.runner.add(load_strategy_class(path), {}, [BTC], strategy_id="tamper")
    desk.trade(BID, 50_005_000)  # on_start runs at the first batch
    assert sys.getrecursionlimit() == limit
    assert signal.getsignal(signal.SIGTERM) == handler
    error = desk.runner.rows()[0].error or ""
    assert "in on_start: StrategyViolation" in error and "recursion limit" in error, error


def test_tampering_inside_a_callback_is_refused_while_the_engine_runs(
    desk: StrategyDesk, tmp_path: Path
) -> None:
    limit = sys.getrecursionlimit()
    WATCHDOG.protect()
    try:
        bad_path = _good_and_bad(desk, tmp_path, "sys.setrecursionlimit(80)")
        desk.trade(BID, 50_005_000)
        deadline = time.monotonic() + 2
        while sys.getrecursionlimit() != limit and time.monotonic() < deadline:
            time.sleep(0.01)  # the signal handler runs in this (the main) thread
        assert sys.getrecursionlimit() == limit
        error = {row.strategy_id: row for row in desk.runner.rows()}["bad"].error or ""
        assert f"{bad_path}:9 in on_trade: StrategyViolation" in error, error
        assert "recursion limit" in error
    finally:
        WATCHDOG.unprotect()
    assert not hasattr(sys.setrecursionlimit, "__wrapped__"), "unprotect puts the originals back"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("raise RuntimeError('no')", "RuntimeError: no"),
        ("raise KeyError('k')", "KeyError: 'k'"),
        ("sys.exit(4)", "SystemExit: 4"),
        ("time.sleep(30)", "CallbackOverrun"),
    ],
)
def test_a_hot_reload_whose_init_fails_takes_out_only_that_strategy(
    desk: StrategyDesk, tmp_path: Path, body: str, reason: str
) -> None:
    from engine.config.strategy_settings import StrategyEntry
    from tests.test_strategy_service import Harness, edit

    path = tmp_path / "good.py"
    path.write_text(GOOD)
    harness = Harness(desk, tmp_path, StrategyEntry(file="good.py", instruments=[BTC]))
    WATCHDOG.load_budget_s = 0.3  # the service set the configured budgets (5 s by default)
    desk.book(50_000_000, 50_010_000, 1_000_000, 1_000_000)
    desk.trade(BID, 50_005_000)
    assert harness.rows()["good"].state == "enabled"
    broken = GOOD.replace(
        "class Good(Strategy):\n",
        f"class Good(Strategy):\n    def __init__(self, ctx, params=None):\n        {body}\n\n",
    )
    edit(path, "import sys, time\n" + broken)
    assert harness.service.poll_files() == ["good"]
    row = harness.rows()["good"]
    assert row.state == "error" and reason in (row.error or ""), row.error
    assert f"{path}:8 in __init__" in (row.error or "")
    desk.settle()  # the cancel of its resting bid reaches the venue
    assert not [order for order in desk.orders("good") if order.is_open]
    edit(path, GOOD)
    assert harness.service.poll_files() == ["good"]
    assert harness.rows()["good"].state == "enabled"


@pytest.mark.parametrize("taken", ["exit", "kill", "manual"])
def test_a_strategy_cannot_take_the_id_of_the_engines_own_orders(
    desk: StrategyDesk, tmp_path: Path, taken: str
) -> None:
    # The OMS tells its protective exits by strategy id; a strategy named "exit" would hold a
    # failed stop back for as long as its own orders work.
    good = load_strategy_class(_write(tmp_path, "good.py", GOOD))
    with pytest.raises(ValueError, match=f"strategy id '{taken}' names the engine's own orders"):
        desk.runner.add(good, {}, [BTC], strategy_id=taken)
    assert desk.runner.ids() == []
