"""Where the wizard's answers come from: a person at a terminal, piped lines, or a TOML file."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Mapping
from typing import Any, Protocol, TextIO


class WizardAborted(Exception):
    """The answers ran out or one was refused; nothing was written."""


class Answers(Protocol):
    """Asks one question; ``default`` is shown and used for an empty answer."""

    def ask(self, key: str, prompt: str, default: str) -> str: ...

    def ask_secret(self, key: str, prompt: str) -> str: ...

    @property
    def interactive(self) -> bool:
        """True when a bad answer can be asked again (a person is typing)."""
        ...


class TerminalAnswers:
    """A person at a terminal (hidden input for secrets), or lines piped to stdin in order."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    @property
    def interactive(self) -> bool:
        return self.stdin.isatty()

    def ask(self, key: str, prompt: str, default: str) -> str:
        shown = f" [{default}]" if default else ""
        self.stdout.write(f"{prompt}{shown}: ")
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise WizardAborted(f"no answer for {key!r} ({prompt}): input ended")
        if not self.interactive:
            self.stdout.write("\n")
        return line.strip() or default

    def ask_secret(self, key: str, prompt: str) -> str:
        if self.interactive:
            return getpass.getpass(f"{prompt} (hidden; empty: keep/skip): ", stream=self.stdout)
        self.stdout.write(f"{prompt} (hidden): \n")
        line = self.stdin.readline()
        if not line:
            raise WizardAborted(f"no answer for {key!r} ({prompt}): input ended")
        return line.rstrip("\n")


class FileAnswers:
    """Answers by key from a TOML file (``--answers``); a missing key takes the default."""

    def __init__(self, values: Mapping[str, Any], stdout: TextIO | None = None) -> None:
        self.values = dict(values)
        self.stdout = stdout or sys.stdout
        self.used: set[str] = set()

    @property
    def interactive(self) -> bool:
        return False

    def _get(self, key: str) -> str | None:
        if key not in self.values:
            return None
        self.used.add(key)
        value = self.values[key]
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    def ask(self, key: str, prompt: str, default: str) -> str:
        value = self._get(key)
        answer = default if value is None else value
        self.stdout.write(f"{prompt}: {answer}\n")
        return answer

    def ask_secret(self, key: str, prompt: str) -> str:
        value = self._get(key)
        self.stdout.write(f"{prompt}: {'(given)' if value else '(none)'}\n")
        return value or ""

    def unused(self) -> list[str]:
        return sorted(set(self.values) - self.used)
