"""A study: one optimization's settings and every finished trial, in a SQLite file
(``<data.dir>/optimize/<study>/study.sqlite``).

Each trial is committed as it arrives (WAL mode), so a run killed at any moment keeps every
finished trial; running the study again (``--resume NAME``) reads them back and evaluates only
the parameter sets it does not hold. Each run of the study is a *session*; trials record the
session that evaluated them, which is how a test (or a curious user) counts what a resumed run
did.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from pathlib import Path
from typing import cast

import msgspec

from engine.optimize.objective import TrialMetrics

STUDY_FILE = "study.sqlite"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session INTEGER PRIMARY KEY, started_ns INTEGER NOT NULL, ended_ns INTEGER,
    state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, params TEXT NOT NULL,
    score REAL, reason TEXT NOT NULL, failed INTEGER NOT NULL, metrics TEXT,
    session INTEGER NOT NULL, wall_s REAL NOT NULL, finished_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trial_paths (
    key TEXT PRIMARY KEY, path TEXT NOT NULL, path_reason TEXT NOT NULL,
    trades INTEGER NOT NULL, trades_per_s REAL NOT NULL, recheck TEXT NOT NULL,
    recheck_fills INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS session_figures (
    session INTEGER PRIMARY KEY, vector_trials INTEGER NOT NULL, event_trials INTEGER NOT NULL,
    rechecked INTEGER NOT NULL, trades INTEGER NOT NULL, wall_s REAL NOT NULL,
    combo_trades_per_s REAL NOT NULL);
"""
_TRIAL_COLUMNS = (
    "t.number, t.key, t.params, t.score, t.reason, t.failed, t.metrics, t.session, t.wall_s, "
    "p.path, p.path_reason, p.trades, p.trades_per_s, p.recheck, p.recheck_fills "
    "FROM trials t LEFT JOIN trial_paths p ON p.key = t.key ORDER BY t.number"
)
"""Trials with how they ran (studies from before ``trial_paths`` read as unknown)."""


class StudySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a study searches: everything needed to run (or resume) it again."""

    strategy_file: str
    strategy_class: str | None = None
    data_dir: str
    instruments: list[str] = msgspec.field(default_factory=list)
    start: str | None = None
    end: str | None = None
    method: str
    """``grid``, ``random`` or ``ga``."""
    objective: str
    trials: int
    """Most parameter sets evaluated (grid: must cover the grid)."""
    seed: int = 0
    overrides: dict[str, str] = msgspec.field(default_factory=dict)
    """``--param`` overrides: name → ``value`` or ``low:high:step``."""
    min_trades: int = 0
    max_drawdown: float | None = None
    population: int = 20
    """GA: individuals per generation."""
    patience: int = 5
    """GA: generations without a better best before stopping early."""


class TrialRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One finished parameter set."""

    number: int
    key: str
    params: dict[str, bool | int | float | str]
    score: float | None
    """The objective's value; None: infeasible or failed (see ``reason``)."""
    reason: str
    failed: bool
    """The backtest raised (bad parameters, a strategy error): ``reason`` says what."""
    metrics: TrialMetrics | None
    session: int
    wall_s: float
    path: str = ""
    """``vector`` or ``event`` (empty: stored before paths were recorded)."""
    path_reason: str = ""
    """Why the event path: the vector path's refusal."""
    trades: int = 0
    trades_per_s: float = 0.0
    recheck: str = ""
    """Empty: not re-checked; ``identical``; or the first differing fill."""
    recheck_fills: int = 0


class SessionFigures(msgspec.Struct, frozen=True, kw_only=True):
    """How one session's trials ran: paths, re-checks, throughput (trades of every trial over
    the session's wall time: combo-trades per second)."""

    vector_trials: int
    event_trials: int
    rechecked: int
    trades: int
    wall_s: float

    @property
    def combo_trades_per_s(self) -> float:
        return self.trades / self.wall_s if self.wall_s > 0 else 0.0


def _record(row: tuple[object, ...]) -> TrialRecord:
    metrics = row[6]
    return TrialRecord(
        number=int(cast(int, row[0])),
        key=str(row[1]),
        params=msgspec.json.decode(cast(str, row[2])),
        score=cast(float | None, row[3]),
        reason=str(row[4]),
        failed=bool(row[5]),
        metrics=None
        if metrics is None
        else msgspec.json.decode(cast(str, metrics), type=TrialMetrics),
        session=int(cast(int, row[7])),
        wall_s=float(cast(float, row[8])),
        path=str(row[9] or ""),
        path_reason=str(row[10] or ""),
        trades=int(cast(int, row[11] or 0)),
        trades_per_s=float(cast(float, row[12] or 0.0)),
        recheck=str(row[13] or ""),
        recheck_fills=int(cast(int, row[14] or 0)),
    )


class Study:
    """An open study file (see the module docstring). Not shared between processes: the driver
    owns it; workers only return outcomes."""

    def __init__(self, folder: Path, spec: StudySpec) -> None:
        self.folder = folder
        self.spec = spec
        self.path = folder / STUDY_FILE
        self._db = _connect(self.path)
        stored = self._db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
        if stored is None:
            self._db.execute(
                "INSERT INTO meta VALUES ('spec', ?)", (msgspec.json.encode(spec).decode(),)
            )
        else:
            old = msgspec.json.decode(stored[0], type=StudySpec)
            if old != spec:
                raise ValueError(_difference(folder.name, old, spec))
        self.trials: dict[str, TrialRecord] = {}
        for row in self._db.execute("SELECT " + _TRIAL_COLUMNS):
            record = _record(row)
            self.trials[record.key] = record
        cursor = self._db.execute(
            "INSERT INTO sessions (started_ns, state) VALUES (?, 'running')", (time.time_ns(),)
        )
        self.session = int(cursor.lastrowid or 0)
        self.resumed = len(self.trials)
        """Trials found in the file when it was opened."""

    @classmethod
    def open(cls, root: Path, name: str, spec: StudySpec) -> Study:
        """Create or reopen ``root/name``; ValueError on a bad name or different settings."""
        check_name(name)
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, spec)

    def add(
        self,
        key: str,
        params: dict[str, bool | int | float | str],
        score: float | None,
        reason: str,
        failed: bool,
        metrics: TrialMetrics | None,
        wall_s: float,
        *,
        path: str = "",
        path_reason: str = "",
        trades: int = 0,
        recheck: str = "",
        recheck_fills: int = 0,
    ) -> TrialRecord:
        """Store one finished trial now (committed before this returns)."""
        record = TrialRecord(
            number=len(self.trials) + 1,
            key=key,
            params=params,
            score=score,
            reason=reason,
            failed=failed,
            metrics=metrics,
            session=self.session,
            wall_s=wall_s,
            path=path,
            path_reason=path_reason,
            trades=trades,
            trades_per_s=round(trades / wall_s, 1) if wall_s > 0 else 0.0,
            recheck=recheck,
            recheck_fills=recheck_fills,
        )
        self._db.execute(
            "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.number,
                key,
                msgspec.json.encode(params).decode(),
                score,
                reason,
                int(failed),
                None if metrics is None else msgspec.json.encode(metrics).decode(),
                self.session,
                wall_s,
                time.time_ns(),
            ),
        )
        if path:
            self._db.execute(
                "INSERT OR REPLACE INTO trial_paths VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, path, path_reason, trades, record.trades_per_s, recheck, recheck_fills),
            )
        self.trials[key] = record
        return record

    def store_figures(self, figures: SessionFigures) -> None:
        """Keep how this session's trials ran (paths, re-checks, throughput)."""
        self._db.execute(
            "INSERT OR REPLACE INTO session_figures VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.session,
                figures.vector_trials,
                figures.event_trials,
                figures.rechecked,
                figures.trades,
                figures.wall_s,
                round(figures.combo_trades_per_s, 1),
            ),
        )

    def close(self, state: str) -> None:
        """End the session (``finished``, ``interrupted`` or ``failed``) and close the file."""
        self._db.execute(
            "UPDATE sessions SET ended_ns = ?, state = ? WHERE session = ?",
            (time.time_ns(), state, self.session),
        )
        self._db.close()


def default_study_name(spec: StudySpec) -> str:
    """``<strategy>-<method>-<hash of the settings>``: the same settings name the same study."""
    digest = hashlib.sha1(msgspec.json.encode(spec), usedforsecurity=False).hexdigest()[:8]
    return f"{Path(spec.strategy_file).stem}-{spec.method}-{digest}"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(
            f"study name {name!r}: use letters, digits, '.', '_' or '-' (at most 64, no '/')"
        )
    return name


def read_spec(root: Path, name: str) -> StudySpec:
    """The stored settings of study ``name`` (ValueError when there is none)."""
    path = root / check_name(name) / STUDY_FILE
    if not path.is_file():
        raise ValueError(f"no study {name!r} in {root}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'spec'").fetchone()
    finally:
        db.close()
    if row is None:
        raise ValueError(f"study {name!r} in {root} has no settings")
    return msgspec.json.decode(row[0], type=StudySpec)


def read_trials(root: Path, name: str) -> list[TrialRecord]:
    """Every trial of study ``name`` in finishing order (for listings and tests)."""
    spec = read_spec(root, name)
    study_folder = root / name
    db = sqlite3.connect(f"file:{study_folder / STUDY_FILE}?mode=ro", uri=True)
    try:
        paths = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'trial_paths'"
        ).fetchone()
        if paths is None:  # a study file from before paths were recorded
            rows = db.execute(
                "SELECT number, key, params, score, reason, failed, metrics, session, wall_s, "
                "NULL, NULL, NULL, NULL, NULL, NULL FROM trials ORDER BY number"
            ).fetchall()
        else:
            rows = db.execute("SELECT " + _TRIAL_COLUMNS).fetchall()
    finally:
        db.close()
    del spec
    return [_record(row) for row in rows]


def read_figures(root: Path, name: str) -> dict[int, SessionFigures]:
    """Each session's figures (paths, re-checks, throughput) of study ``name``."""
    path = root / check_name(name) / STUDY_FILE
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT session, vector_trials, event_trials, rechecked, trades, wall_s "
            "FROM session_figures ORDER BY session"
        ).fetchall()
    finally:
        db.close()
    return {
        row[0]: SessionFigures(
            vector_trials=row[1],
            event_trials=row[2],
            rechecked=row[3],
            trades=row[4],
            wall_s=row[5],
        )
        for row in rows
    }


def list_studies(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{STUDY_FILE}"))


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    # Each insert is its own transaction: a killed run keeps every trial it reported.
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    return db


def _difference(name: str, old: StudySpec, new: StudySpec) -> str:
    old_fields, new_fields = msgspec.structs.asdict(old), msgspec.structs.asdict(new)
    changed = [f for f in old_fields if old_fields[f] != new_fields[f]]
    detail = "; ".join(f"{f}: stored {old_fields[f]!r}, now {new_fields[f]!r}" for f in changed)
    return (
        f"study {name!r} exists with other settings ({detail}); "
        f"resume it with --resume {name} or choose another --study name"
    )
