"""The systemd unit that runs ``stom engine`` as a service (``stom service install``).

``Type=notify``: systemd counts the engine started when it says ``READY=1`` (after the broker
connection is up), pings arrive within ``WatchdogSec`` or it is restarted, and it is restarted on
failure. The sandboxing options keep the engine to its own files without breaking it: it needs
the network (the broker, venues), write access to its data directory and log file, and read
access to its config and secrets.
"""

from __future__ import annotations

import getpass
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.config.settings import Settings
from engine.oms.startup import journal_path

WATCHDOG_S = 30
"""Pings come every 5 s at most (notify.py); 30 s tolerates a loaded machine, not a hung loop."""


@dataclass(frozen=True)
class UnitPlan:
    """What the unit runs and where, resolved to absolute paths at install time."""

    name: str
    working_dir: Path
    config_file: Path | None
    secrets_file: Path | None
    writable: tuple[Path, ...]
    user_unit: bool
    namespace: str


def unit_name(namespace: str) -> str:
    return "stom-engine.service" if namespace == "default" else f"stom-engine-{namespace}.service"


def plan_unit(
    settings: Settings, config_file: Path | None, working_dir: Path, *, user_unit: bool
) -> UnitPlan:
    def absolute(path: str | Path) -> Path:
        resolved = Path(path).expanduser()
        return resolved if resolved.is_absolute() else (working_dir / resolved)

    writable = {absolute(settings.data.dir), absolute(journal_path(settings)).parent}
    if settings.engine.log_file:
        writable.add(absolute(settings.engine.log_file).parent)
    secrets = absolute(settings.secrets.file) if settings.secrets.file else None
    return UnitPlan(
        name=unit_name(settings.bus.namespace),
        working_dir=working_dir,
        config_file=absolute(config_file) if config_file is not None else None,
        secrets_file=secrets,
        writable=tuple(sorted(writable)),
        user_unit=user_unit,
        namespace=settings.bus.namespace,
    )


def exec_start(plan: UnitPlan) -> list[str]:
    """The engine's command line: this Python (so the same virtualenv), config made explicit."""
    argv = [sys.executable, "-m", "engine", "engine"]
    if plan.config_file is not None:
        argv += ["--config", str(plan.config_file)]
    if plan.namespace != "default":
        argv += ["--namespace", plan.namespace]
    return argv


def _quote(word: str) -> str:
    # systemd splits ExecStart like a shell, with double quotes; '%' starts a specifier.
    word = word.replace("%", "%%")
    return f'"{word}"' if any(c in word for c in " \t\"'\\;") else word


def render_unit(plan: UnitPlan) -> str:
    """The unit file's text."""
    command = " ".join(_quote(word) for word in exec_start(plan))
    lines = [
        "# Written by `stom service install` (see docs/deploy.md); after editing it, run",
        "# systemctl daemon-reload.",
        "[Unit]",
        f"Description=STOM trading engine (namespace {plan.namespace})",
        "After=network-online.target mosquitto.service",
        "Wants=network-online.target",
        # Restart forever: a long broker outage must not leave the engine given up on.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={command}",
        f"WorkingDirectory={_quote(str(plan.working_dir))}",
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=on-failure",
        "RestartSec=5",
        f"WatchdogSec={WATCHDOG_S}",
        # SIGTERM: journal closed, retained state flushed, 'stopped' published (bounded, 5 s).
        "KillSignal=SIGTERM",
        "TimeoutStartSec=60",
        "TimeoutStopSec=20",
        "UMask=0077",
        "NoNewPrivileges=yes",
    ]
    if not plan.user_unit:
        lines += [
            f"User={getpass.getuser()}",
            "PrivateTmp=yes",
            "ProtectSystem=strict",
            "ProtectHome=read-only",
            *(f"ReadWritePaths=-{_quote(str(path))}" for path in plan.writable),
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "RestrictSUIDSGID=yes",
            "RestrictRealtime=yes",
            "LockPersonality=yes",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        ]
    lines += [
        "",
        "[Install]",
        f"WantedBy={'default.target' if plan.user_unit else 'multi-user.target'}",
        "",
    ]
    return "\n".join(lines)


def unit_path(plan: UnitPlan, home: Path | None = None) -> Path:
    if plan.user_unit:
        return (home or Path.home()) / ".config" / "systemd" / "user" / plan.name
    return Path("/etc/systemd/system") / plan.name


def enable_instructions(plan: UnitPlan, path: Path) -> str:
    ctl = "systemctl --user" if plan.user_unit else "sudo systemctl"
    journal = "journalctl --user" if plan.user_unit else "journalctl"
    lines = [
        f"wrote {path}",
        "next:",
        f"  {ctl} daemon-reload",
        f"  {ctl} enable --now {plan.name}",
        f"  {ctl} status {plan.name}      # STATUS line: state, broker, ticks/s, open orders",
        f"  {journal} -u {plan.name} -f   # the engine's log",
    ]
    if plan.user_unit:
        lines.append(
            f"  sudo loginctl enable-linger {shlex.quote(getpass.getuser())}"
            "   # keep it running after you log out"
        )
    if plan.config_file is None:
        lines.append("note: no config file was found; the engine will run on the defaults")
    return "\n".join(lines)
