"""``stom status``: the engine's state, for people and (``--json``) for scripts."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import msgspec

from engine.cli.common import broker_of
from engine.cli.remote import RemoteEngine
from engine.config.settings import Settings


async def _query(settings: Settings) -> dict[str, Any]:
    address, password = broker_of(settings)
    async with RemoteEngine(settings, address, password) as remote:
        status = await remote.status(timeout=1.0)
        report: dict[str, Any] = {
            "broker": str(address),
            "namespace": settings.bus.namespace,
            "state": status.state if status else "absent",
            "status": msgspec.to_builtins(status) if status else None,
        }
        if status is not None and status.state in ("running", "starting", "degraded"):
            try:
                reply = await remote.request("status", timeout=2.0)
            except TimeoutError:
                report["state"] = "unresponsive"
            else:
                report.update(reply.result or {})
                report["state"] = reply.result["status"]["state"] if reply.result else "running"
        return report


def _human(report: dict[str, Any]) -> str:
    lines = [f"engine: {report['state']}  broker {report['broker']}  ns {report['namespace']}"]
    status = report.get("status") or {}
    if status:
        lines.append(
            f"  id {status.get('engine_id')}  pid {status.get('pid')}  "
            f"version {status.get('version')}  venues {', '.join(status.get('venues') or [])}"
        )
    if status.get("reason"):  # why it is offline (a fault, a signal, the last will)
        lines.append(f"  reason: {status['reason']}")
    stats = report.get("stats")
    if stats:
        lines.append(
            f"  uptime {stats['uptime_s']:.0f}s  ticks {stats['ticks_total']:,} "
            f"({stats['ticks_per_s']:,.0f}/s)  instruments {stats['instruments']}  "
            f"rss {stats['rss_bytes'] / 2**20:.0f} MiB"
        )
    return "\n".join(lines)


def run_status(settings: Settings, *, as_json: bool) -> int:
    try:
        report = asyncio.run(_query(settings))
    except ConnectionError as exc:
        print(f"stom: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if as_json else _human(report))
    return 0 if report["state"] in ("running", "degraded") else 1
