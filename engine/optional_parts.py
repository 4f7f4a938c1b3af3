"""The engine's optional parts, imported only when configured.

The recorder brings polars and the alerts bring httpx; every import is time before the engine
(and the console's first frame) is up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.config.settings import Settings
from engine.domain.clock import Clock
from engine.market_state import MarketState

if TYPE_CHECKING:
    from engine.alerts.wiring import EngineAlerts
    from engine.oms.oms import Oms
    from engine.recorder import Recorder


def optional_recorder(settings: Settings, market: MarketState) -> Recorder | None:
    if not settings.recorder.enabled:
        return None
    from engine.recorder import build_recorder

    return build_recorder(settings, market)


def optional_alerts(
    settings: Settings, oms: Oms, clock: Clock, engine_line: Callable[[], str]
) -> EngineAlerts | None:
    if not (settings.alerts.telegram.enabled or settings.alerts.email.enabled):
        return None
    from engine.alerts.wiring import build_alerts

    return build_alerts(settings, oms, clock, engine_line, os.environ)
