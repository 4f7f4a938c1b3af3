"""The config options every command takes, and their trip to a child process.

Kept apart from :mod:`engine.cli.main` so that a command module (``stom demo``) can use them
without importing the entry point that imports it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def common_options(*, after_command: bool = False) -> argparse.ArgumentParser:
    """The options every command takes, before or after the command's name.

    After the name (``stom optimize --set data.dir=X``) they have no defaults, so they never
    overwrite what was given before it (``stom --set data.dir=X optimize``): argparse copies a
    subcommand's defaults over the values already parsed.
    """
    common = argparse.ArgumentParser(add_help=False)
    # Keyword arguments for add_argument (typed Any: its keywords take values of many types).
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if after_command else {}
    common.add_argument("--config", type=Path, help="config file (default: ./config.toml)", **unset)
    common.add_argument(
        "--broker", metavar="URL", help="MQTT broker, e.g. mqtt://127.0.0.1:1883", **unset
    )
    common.add_argument(
        "--namespace", metavar="NS", help="topic namespace (stom/<NS>/...)", **unset
    )
    common.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        dest="set_after" if after_command else "set",
        default=argparse.SUPPRESS if after_command else [],
        help="override any setting, e.g. --set sim.rate=1000 (repeatable)",
    )
    return common


def all_sets(args: argparse.Namespace) -> list[str]:
    """``--set`` items given before the command's name, then after it (later ones win)."""
    return [*args.set, *getattr(args, "set_after", [])]


def overrides_from(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """Dotted keys to values, and to the flag each came from (for the loader's messages)."""
    values: dict[str, Any] = {}
    flags: dict[str, str] = {}
    if args.broker is not None:
        values["bus.url"], flags["bus.url"] = args.broker, "--broker"
    if args.namespace is not None:
        values["bus.namespace"], flags["bus.namespace"] = args.namespace, "--namespace"
    for item in all_sets(args):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"stom: --set {item!r}: expected KEY=VALUE, e.g. --set sim.rate=1000")
        # Raw text: the loader reads it like an environment value, against the key's type.
        values[key.strip()], flags[key.strip()] = value.strip(), f"--set {item}"
    return values, flags


def passthrough_args(args: argparse.Namespace) -> list[str]:
    """The same config flags, for a child process (the engine the console spawns)."""
    argv: list[str] = []
    if args.config is not None:
        argv += ["--config", str(args.config)]
    if args.broker is not None:
        argv += ["--broker", args.broker]
    if args.namespace is not None:
        argv += ["--namespace", args.namespace]
    for item in all_sets(args):
        argv += ["--set", item]
    return argv
