"""``stom demo --venue upbit|binance|kiwoom``: the console on a venue's loopback protocol server.

The real adapter path with no network and no real keys: the venue's loopback server (REST and
WebSocket, the venue's own wire protocol, signatures checked) runs in this process; the engine
the console starts streams from it with ``[venues.<venue>]`` pointed at it, in its own namespace
(``demo-<venue>``) and journal. Paper mode by default; ``--live`` routes orders to the loopback
venue (after ``stom arm <CODE> --namespace demo-<venue>``), with throwaway keys made for the demo.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from engine.cli.options import common_options, overrides_from, passthrough_args
from engine.config.secrets import secret_env_name
from engine.config.settings import Settings
from engine.venues.loopback_host import LoopbackInfo
from engine.venues.registry import SPECS


def add_demo_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="the console on a venue's loopback protocol server (no network, no real keys)",
    )
    demo.add_argument("--venue", required=True, choices=sorted(SPECS), help="the venue to play")
    demo.add_argument(
        "--live",
        action="store_true",
        help="send orders to the loopback venue (arm it first); default: paper on its books",
    )
    demo.add_argument("--seed", type=int, default=7, help="the loopback market's seed")


def demo_settings_args(info: LoopbackInfo, *, live: bool) -> list[str]:
    """The engine's ``--set`` flags for a loopback venue (also used by the tests)."""
    section = f"venues.{info.venue}"
    symbols = ", ".join(f'"{symbol}"' for symbol in info.symbols)
    values = {
        f"{section}.enabled": "true",
        f"{section}.mode": "live" if live else "paper",
        f"{section}.symbols": f"[{symbols}]",
        f"{section}.rest_url": info.rest_url,
        f"{section}.ws_url": info.ws_url,
        "sim.enabled": "false",
    }
    argv: list[str] = []
    for key, value in values.items():
        argv += ["--set", f"{key}={value}"]
    return argv


def demo_env(info: LoopbackInfo) -> dict[str, str]:
    """The loopback's throwaway keys as the environment variables the engine reads."""
    return {secret_env_name(f"{info.venue}.{key}"): value for key, value in info.keys.items()}


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    from engine.cli.console import run_console
    from engine.config.loader import ConfigError, load_settings
    from engine.venues.loopback_host import LoopbackHost

    host = LoopbackHost(args.venue, seed=args.seed)
    try:
        info = host.start()
    except (OSError, TimeoutError, ValueError) as exc:
        print(f"stom demo: the {args.venue} loopback server did not start: {exc}", file=sys.stderr)
        return 1
    try:
        extra = demo_settings_args(info, live=args.live)
        if args.namespace is None:
            extra += ["--namespace", f"demo-{args.venue}"]
        passthrough = passthrough_args(args) + extra
        os.environ.update(demo_env(info))  # the engine subprocess inherits them
        reparsed = _reparse(passthrough)
        overrides, flags = overrides_from(reparsed)
        try:
            demo, _ = load_settings(args.config, env=os.environ, overrides=overrides,
                                    flag_names=flags)  # fmt: skip
        except ConfigError as exc:
            print(f"stom demo: configuration error: {exc}", file=sys.stderr)
            return 2
        code = SPECS[args.venue].code
        print(f"{code} loopback server: REST {info.rest_url}  WebSocket {info.ws_url}")
        if args.live:
            print(f"live mode: arm with  stom arm {code} --namespace {demo.bus.namespace}")
        return run_console(demo, passthrough)
    finally:
        host.stop()


def _reparse(passthrough: list[str]) -> argparse.Namespace:
    """The config flags of ``passthrough`` parsed back (so the app sees what the engine sees)."""
    parsed, _ = common_options().parse_known_args(passthrough)
    return parsed
