"""``stom service install [--user] [--print]``: a systemd unit for the headless engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.config.settings import Settings
from engine.service.unit import enable_instructions, plan_unit, render_unit, unit_path


def add_service_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    service = sub.add_parser("service", parents=[common], help="run the engine as a service")
    service_sub = service.add_subparsers(dest="service_command", metavar="ACTION", required=True)
    install = service_sub.add_parser(
        "install", parents=[common], help="write a systemd unit for `stom engine`"
    )
    install.add_argument(
        "--user", action="store_true", help="a user unit (~/.config/systemd/user), no root needed"
    )
    install.add_argument(
        "--print", action="store_true", dest="print_only", help="print the unit, write nothing"
    )
    install.add_argument("--output", type=Path, help="write the unit to this file instead")


def run_service(settings: Settings, config_path: Path | None, args: argparse.Namespace) -> int:
    plan = plan_unit(settings, config_path, Path.cwd(), user_unit=args.user)
    text = render_unit(plan)
    if args.print_only:
        sys.stdout.write(text)
        return 0
    path = args.output or unit_path(plan)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # ReadWritePaths= must exist when the service starts, or systemd refuses to start it.
        for directory in plan.writable:
            directory.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except PermissionError:
        print(
            f"stom: cannot write {path}: permission denied. Run it with sudo, use --user for a"
            " user unit, or --print and copy the text yourself",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"stom: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 1
    print(enable_instructions(plan, path))
    return 0
