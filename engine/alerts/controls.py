"""The engine controls the Telegram bot uses, on the OMS's existing kill-switch controls.

Strategies are not wired into the engine yet, so ``/pause`` is the kill switch without
flattening: open orders are cancelled and new entries blocked, positions are kept; ``/resume``
resets it. ``/kill`` is the kill switch with flattening.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from engine.alerts.events import plain
from engine.domain.clock import Clock
from engine.oms.oms import Oms
from engine.oms.rows import position_rows


class OmsControls:
    """:class:`~engine.alerts.bot_commands.EngineControls` over one OMS."""

    def __init__(self, oms: Oms, clock: Clock, engine_line: Callable[[], str]) -> None:
        self.oms = oms
        self.clock = clock
        self.engine_line = engine_line

    def status_text(self) -> str:
        risk = self.oms.risk_state
        kill = f"ON ({risk.kill_reason})" if risk.kill_switch else "off"
        equity = self.oms.equity_by_currency()
        pnl = ", ".join(f"{value:f} {currency}" for currency, value in equity.items()) or "0"
        lines = [
            self.engine_line(),
            f"kill switch: {kill}",
            f"open orders: {len(self.oms.open)}",
            f"PnL (realized - fees + unrealized): {pnl}",
        ]
        if self.oms.stale:
            lines.append(f"silent feeds: {', '.join(sorted(self.oms.stale))}")
        return "\n".join(lines)

    def positions_text(self) -> str:
        rows = [row for row in position_rows(self.oms) if Decimal(row.quantity) != 0]
        if not rows:
            return "No open positions."
        return "\n".join(
            f"{row.instrument_id}: {plain(row.quantity)} @ {plain(row.avg_price)},"
            f" last {plain(row.last)}, unrealized {plain(row.unrealized)} {row.currency}"
            for row in rows
        )

    def pause(self, reason: str) -> str:
        canceled, _ = self.oms.kill(self.clock.now_ns(), flatten=False, reason=reason)
        return (
            f"Paused: new entries blocked, {len(canceled)} open orders cancelled. /resume undoes."
        )

    def resume(self) -> str:
        if not self.oms.risk_state.kill_switch:
            return "Not paused: entries are allowed."
        self.oms.reset_kill()
        return "Resumed: entries allowed again."

    def kill(self, reason: str) -> str:
        canceled, flattened = self.oms.kill(self.clock.now_ns(), flatten=True, reason=reason)
        return (
            f"KILL SWITCH ON: {len(canceled)} orders cancelled, {len(flattened)} positions"
            " being flattened, new entries blocked. /resume allows entries again."
        )
