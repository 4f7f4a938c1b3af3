"""``stom init``: ask a few questions, write a commented ``config.toml`` and a 0600 secrets file.

Answers come from the terminal (secrets with hidden input), from lines piped to stdin, or from
``--answers FILE`` (TOML, one key per question, e.g. ``venues = ["sim"]``). Nothing is written
unless the result passes the same validation the engine applies at start.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path

import msgspec

from engine.config.errors import ConfigError
from engine.config.loader import USER_CONFIG_FILE, load_settings
from engine.config.secrets import load_secrets
from engine.config.settings import SecretsSettings, Settings
from engine.setup.answers import Answers, FileAnswers, TerminalAnswers, WizardAborted
from engine.setup.config_edit import apply_plan, read_document, write_config, write_secrets
from engine.setup.wizard import Wizard


def add_init_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    init = sub.add_parser(
        "init", parents=[common], help="set up: write config.toml and the secrets file"
    )
    init.add_argument(
        "--answers", type=Path, metavar="FILE", help="answers from a TOML file (for scripts)"
    )


def run_init(args: argparse.Namespace) -> int:
    target = (args.config or USER_CONFIG_FILE).expanduser()
    try:
        current = load_settings(target, env={})[0] if target.exists() else Settings()
    except ConfigError as exc:
        return _fail(f"{target} exists but is not valid, fix it first:\n{exc}", 2)
    answers: Answers
    file_answers: FileAnswers | None = None
    if args.answers is not None:
        try:
            file_answers = FileAnswers(tomllib.loads(args.answers.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            return _fail(f"{args.answers}: cannot read the answers: {exc}", 2)
        answers = file_answers
    else:
        answers = TerminalAnswers()
        print(f"Setting up STOM: {target} (Enter keeps the value in brackets)")
    has_venues = "venues" in {field.name for field in msgspec.structs.fields(Settings)}
    try:
        plan = Wizard(answers, current, has_venues=has_venues).run()
    except WizardAborted as exc:
        return _fail(f"{exc}; nothing was written", 2)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing was written", 130)
    try:
        secrets_path = Path(current.secrets.file).expanduser()
        if plan.secrets and secrets_path.exists():
            # A secrets file we could not use later is refused now, before anything changes.
            load_secrets(Settings(secrets=SecretsSettings(file=str(secrets_path))), env={})
        document = read_document(target)
        apply_plan(document, plan)
        settings = write_config(target, document, os.environ)
        secrets_path = Path(settings.secrets.file).expanduser()
        wrote_secrets = write_secrets(secrets_path, plan, settings)
    except ConfigError as exc:
        return _fail(
            f"the answers do not make a valid configuration; nothing was written:\n{exc}", 2
        )
    print(f"wrote {target}")
    if wrote_secrets:
        print(f"wrote {secrets_path} (mode 0600): {len(plan.secrets)} secret(s)")
    for note in plan.notes:
        print(f"note: {note}")
    if file_answers is not None and (unused := file_answers.unused()):
        print(f"note: answers not asked for (check their names): {', '.join(unused)}")
    shown = f" --config {target}" if args.config is not None else ""
    print("next:")
    print(f"  stom{shown}                      # open the console (starts the engine)")
    print(f"  stom service install{shown}      # run the engine as a systemd service")
    return 0


def _fail(message: str, code: int) -> int:
    print(f"stom init: {message}", file=sys.stderr)
    return code
