"""``stom sim list``: the simulator's catalogue."""

from __future__ import annotations

from engine.config.settings import Settings
from engine.sim.catalog import SIM_CATALOG, sim_instrument


def run_sim_list(settings: Settings) -> int:
    enabled = set(settings.sim.instruments)
    for symbol in SIM_CATALOG:
        instrument = sim_instrument(symbol)
        mark = "*" if symbol in enabled else " "
        print(f"{mark} {instrument.id:<16} {instrument.kind:<7} {instrument.name}")
    print("(* = streamed by the engine with this configuration)")
    return 0
