"""``stom data …``: recorded market data. Each subcommand module registers its parser here and
sets ``handler`` (called with the settings and the parsed arguments)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.config.settings import Settings


def add_data_parsers(sub: Any, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``data`` command and its subcommands; returns the ``data`` parser."""
    data = sub.add_parser("data", parents=[common], help="recorded market data")
    data_sub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)
    from engine.cli.data_sample_command import add_sample_parser

    add_sample_parser(data_sub, common)
    from engine.cli.data_record_command import add_record_parser
    from engine.cli.data_store_command import add_store_parsers

    add_record_parser(data_sub, common)
    add_store_parsers(data_sub, common)
    return data


def run_data(settings: Settings, args: argparse.Namespace) -> int:
    handler = getattr(args, "handler", None)
    if handler is None:
        raise SystemExit("stom data: choose a subcommand (see stom data --help)")
    from engine.storage.tick_store import TickStoreError

    try:
        result: int = handler(settings, args)
    except TickStoreError as exc:
        print(f"stom data {args.data_command}: {exc}", file=sys.stderr)
        return 2
    return result
