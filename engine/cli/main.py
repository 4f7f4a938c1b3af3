"""``stom``: the console (default), the headless engine, and scripted commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from engine import __version__
from engine.cli.options import common_options, overrides_from, passthrough_args

TRADING_COMMANDS = ("order", "cancel", "orders", "positions", "kill", "arm", "disarm")


def build_parser() -> argparse.ArgumentParser:
    common = common_options(after_command=True)
    parser = argparse.ArgumentParser(
        prog="stom",
        description="Keyboard-driven terminal trading console. With no command: open the console.",
        parents=[common_options()],
    )
    parser.add_argument("--version", action="version", version=f"stom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("console", parents=[common], help="open the console (the default)")
    engine = sub.add_parser(
        "engine", parents=[common], help="run the engine headless (for a service)"
    )
    # Set by `stom` when it spawns the engine on the embedded broker it has just started: no
    # engine can be on it yet, so the start does not wait for a retained status (the first
    # frame's 0.3 s).
    engine.add_argument("--fresh-broker", action="store_true", help=argparse.SUPPRESS)
    status = sub.add_parser("status", parents=[common], help="print the engine's state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    sim = sub.add_parser("sim", parents=[common], help="the market simulator")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)
    sim_sub.add_parser("list", parents=[common], help="list the simulator's instruments")
    from engine.cli.trading_command import add_trading_parsers

    add_trading_parsers(sub, common)
    from engine.cli.service_command import add_service_parser

    add_service_parser(sub, common)
    from engine.cli.init_command import add_init_parser

    add_init_parser(sub, common)
    from engine.cli.backtest_command import add_backtest_parser
    from engine.cli.data_command import add_data_parsers

    add_backtest_parser(sub, common)
    add_data_parsers(sub, common)
    from engine.cli.optimize_command import add_optimize_parser

    add_optimize_parser(sub, common)
    from engine.cli.montecarlo_command import add_montecarlo_parser
    from engine.cli.report_command import add_report_parser
    from engine.cli.walkforward_command import add_walkforward_parser

    add_walkforward_parser(sub, common)
    add_montecarlo_parser(sub, common)
    add_report_parser(sub, common)
    from engine.cli.demo_command import add_demo_parser

    add_demo_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "init":  # before loading settings: it writes them
        from engine.cli.init_command import run_init

        return run_init(args)
    from engine.config.loader import ConfigError, load_settings

    try:
        overrides, flag_names = overrides_from(args)
        settings, path = load_settings(
            args.config, env=os.environ, overrides=overrides, flag_names=flag_names
        )
    except ConfigError as exc:
        print(f"stom: configuration error: {exc}", file=sys.stderr)
        return 2
    command = args.command or "console"
    if command == "engine":
        from engine.cli.engine_command import run_engine

        return run_engine(settings, path, fresh_broker=args.fresh_broker)
    if command == "status":
        from engine.cli.status_command import run_status

        return run_status(settings, as_json=args.json)
    if command in TRADING_COMMANDS:
        from engine.cli.trading_command import run_trading

        return run_trading(settings, args)
    if command == "sim":
        from engine.cli.sim_command import run_sim_list

        return run_sim_list(settings)
    if command == "backtest":
        from engine.cli.backtest_command import run_backtest_command

        return run_backtest_command(settings, args)
    if command == "optimize":
        from engine.cli.optimize_command import run_optimize_command

        return run_optimize_command(settings, args)
    if command == "walkforward":
        from engine.cli.walkforward_command import run_walkforward_command

        return run_walkforward_command(settings, args)
    if command == "montecarlo":
        from engine.cli.montecarlo_command import run_montecarlo_command

        return run_montecarlo_command(settings, args)
    if command == "report":
        from engine.cli.report_command import run_report_command

        return run_report_command(settings, args)
    if command == "demo":
        from engine.cli.demo_command import run_demo

        return run_demo(settings, args)
    if command == "data":
        from engine.cli.data_command import run_data

        return run_data(settings, args)
    if command == "service":
        from engine.cli.service_command import run_service

        return run_service(settings, path, args)
    from engine.cli.console import run_console

    return run_console(settings, passthrough_args(args))
