"""Strategy files in the real engine subprocess: the config that enables them, and their rows
as ``strategy.list`` reports them (for the isolation and fuzz tests of hostile strategies)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from engine.cli.remote import RemoteEngine

GOOD = """from engine.strategy.api import Strategy


class Good(Strategy):
    def on_trade(self, i, price, size, side, ts):
        if self.ctx.open_orders(i):
            return
        if self.ctx.position(i) > 0:
            self.ctx.close_position(i)
        else:
            self.ctx.buy(i, self.ctx.size_raw(i, 0.001))
"""
"""A strategy that trades every few trades: it must keep trading beside the hostile ones."""

Rows = dict[str, dict[str, Any]]


def strategies_config(tmp_path: Path, names: Iterable[str], options: str) -> Path:
    """``tmp_path/config.toml`` enabling ``names`` (files in ``tmp_path/strategies``) on
    KRW-BTC.SIM, with ``options`` (TOML lines) in its ``[strategies]`` table."""
    entries = "".join(
        f'[[strategies.enabled]]\nfile = "{name}.py"\ninstruments = ["KRW-BTC.SIM"]\n'
        for name in names
    )
    config = tmp_path / "config.toml"
    config.write_text(f'[strategies]\ndir = "{tmp_path / "strategies"}"\n{options}' + entries)
    return config


async def strategy_rows(remote: RemoteEngine) -> Rows:
    """``strategy.list``'s rows by strategy id."""
    reply = await remote.request("strategy.list", {}, timeout=5)
    assert reply.status == "accepted", reply.reason
    assert reply.result is not None
    return {row["id"]: row for row in reply.result["strategies"]}


async def rows_until(remote: RemoteEngine, done: Callable[[Rows], bool], timeout_s: float) -> Rows:
    """The rows once ``done(rows)`` holds, or the last rows read when ``timeout_s`` has passed
    (a list request that times out, on an engine busy with hostile code, is asked again)."""
    deadline = time.monotonic() + timeout_s
    rows: Rows = {}
    while time.monotonic() < deadline:
        try:
            rows = await strategy_rows(remote)
        except TimeoutError:
            continue
        if done(rows):
            break
        await asyncio.sleep(0.3)
    return rows
