"""Hostile strategies in the real engine subprocess on a real Mosquitto: an infinite loop and a
sleep in ``on_trade``, ``GeneratorExit`` in ``on_trade`` (the zombie of issue 12, finding 2),
``sys.exit(4)`` in ``__init__``, a sleep at import, a FIFO in place of the file, a strategy that
ignores SIGTERM and lowers the recursion limit, an order storm, a ``save_state`` JSON cannot hold.

The engine starts, answers ping, lists each bad strategy in error with file:line and the reason,
the good one keeps trading, no traceback reaches the log, and SIGTERM still stops it cleanly.
Before the fix the engine did not start (``sys.exit(4)`` → exit 4), froze on the FIFO or the
sleeps, or stayed up deaf after ``GeneratorExit``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.brokers import Broker
from tests.support.engine_process import EngineProcess, unique_namespace
from tests.support.remote_engines import remote_engine
from tests.support.strategy_engine import GOOD, Rows, rows_until, strategies_config

pytestmark = pytest.mark.integration

HEADER = "import signal, sys, time\nfrom engine.strategy.api import Strategy\n\n\n"


def _on_trade(name: str, body: str) -> str:
    return HEADER + f"class {name}(Strategy):\n    def on_trade(self, i, price, size, side, ts):\n"\
        f"        {body}\n"  # fmt: skip


BAD: dict[str, tuple[str, str]] = {
    # id: (file text, what its error says) — every one at line 7 of its file, or the file
    "loop": (_on_trade("Loop", "while True: pass"), "7 in on_trade: CallbackOverrun"),
    "sleep": (_on_trade("Sleep", "time.sleep(3600)"), "7 in on_trade: CallbackOverrun"),
    "genexit": (_on_trade("GenExit", "raise GeneratorExit"), "7 in on_trade: GeneratorExit"),
    "storm": (
        _on_trade("Storm", "[self.ctx.buy(i, 100_000, 1_000_000) for _ in range(200)]"),
        "7: storm sent more than 50 orders in one market batch",
    ),
    "exit_init": (
        HEADER + "class ExitInit(Strategy):\n    def __init__(self, ctx, params=None):\n"
        "        sys.exit(4)\n",
        "7 in __init__: SystemExit: 4",
    ),
    "sleep_import": (HEADER + "time.sleep(3600)\n", "5: CallbackOverrun"),
    "tamper": (
        HEADER + "class Tamper(Strategy):\n    def on_trade(self, i, price, size, side, ts):\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n",
        "in on_trade: StrategyViolation: tried to replace the engine's SIGTERM handler",
    ),
    "unsaveable": (
        HEADER + "class Unsaveable(Strategy):\n    def save_state(self):\n"
        "        return {'when': object()}\n",
        "save_state returned what JSON cannot hold",
    ),
}


def _config(tmp_path: Path) -> Path:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "good.py").write_text(GOOD)
    for strategy_id, (text, _) in BAD.items():
        (folder / f"{strategy_id}.py").write_text(text)
    os.mkfifo(folder / "fifo.py")
    options = "reload_s = 0.5\ncallback_budget_s = 0.3\nload_budget_s = 0.5\n"
    return strategies_config(tmp_path, ("good", *BAD, "fifo"), options)


def _settled(rows: Rows) -> bool:
    """Every bad one in error, and the good one trading."""
    errors = all(rows.get(name, {}).get("state") == "error" for name in (*BAD, "fifo"))
    return errors and rows["good"]["fills"] >= 4


async def test_hostile_strategies_leave_the_engine_up_and_the_good_one_trading(
    mosquitto: Broker, tmp_path: Path
) -> None:
    namespace = unique_namespace()
    engine = EngineProcess(
        mosquitto.url,
        namespace,
        rate=3000,
        extra=["--config", str(_config(tmp_path)), "--set", "risk.max_orders_per_second=10000"],
    ).start()
    folder = tmp_path / "strategies"
    try:
        async with remote_engine(mosquitto.url, namespace) as remote:
            rows = await rows_until(remote, _settled, 20)
            for strategy_id, (_, reason) in BAD.items():
                row = rows[strategy_id]
                assert row["state"] == "error", (strategy_id, row)
                assert f"{folder / strategy_id}.py" in row["error"], (strategy_id, row["error"])
                assert reason in row["error"], (strategy_id, row["error"])
            assert rows["fifo"]["error"] == f"{folder}/fifo.py: a FIFO, not a regular file: refused"
            assert rows["good"]["state"] == "enabled" and rows["good"]["fills"] >= 4, rows["good"]
            ping = await remote.request("ping", {}, timeout=5)
            assert ping.status == "accepted"
        engine.signal(signal.SIGTERM)  # the tamper strategy tried to ignore it
        assert engine.wait(15) == 0
        log = engine.log()
        assert "Traceback" not in log
    finally:
        engine.stop()


SWALLOW = _on_trade(
    "Swallow",
    "while True:\n            try:\n                time.sleep(3600)\n"
    "            except BaseException:\n                pass",
)


async def test_a_strategy_that_swallows_the_overrun_ends_the_engine_and_is_quarantined(
    mosquitto: Broker, tmp_path: Path
) -> None:
    """The last resort: it cannot be stopped inside the process, so the engine exits 70 naming
    it, and the next start leaves it out (instead of hanging again) while the good one runs."""
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "good.py").write_text(GOOD)
    (folder / "swallow.py").write_text(SWALLOW)
    config = strategies_config(tmp_path, ("good", "swallow"), "callback_budget_s = 0.2\n")
    namespace = unique_namespace()
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    def engine() -> EngineProcess:
        return EngineProcess(
            mosquitto.url, namespace, data_dir=data_dir, extra=["--config", str(config)]
        ).start()

    first = engine()
    try:
        assert first.wait(20) == 70
    finally:
        first.stop()
    assert "strategy swallow ignored its time budget (0.2 s, +1 s grace)" in first.log()
    second = engine()
    try:
        async with remote_engine(mosquitto.url, namespace) as remote:
            rows = await rows_until(remote, lambda r: r.get("good", {}).get("fills", 0) >= 2, 15)
            assert rows["swallow"]["state"] == "error"
            assert "ignored its time budget" in rows["swallow"]["error"]
            assert "edit the file" in rows["swallow"]["error"]
            assert rows["good"]["state"] == "enabled" and rows["good"]["fills"] >= 2
        second.signal(signal.SIGTERM)
        assert second.wait(15) == 0
    finally:
        second.stop()
