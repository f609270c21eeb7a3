"""The results store of a sweep: one SQLite file plus one Parquet file of steps per run.

    OUT/sweep.db               table runs: one row per (parameter set, scenario, seed)
                                 run_id, param_key, params (JSON), scenario, seed,
                                 status (done | failed), error, summary (JSON of
                                 sims.report.summarise), steps_path, seconds, attempts,
                                 finished_at, trial
                               table trials: Optuna's trials (number, params, state, value)
                               table meta: the sweep file as it was last run
    OUT/steps/<run_id>.parquet the run's per-step metrics
    OUT/report.html            the analysis (sims.sweep.report)

A run is recorded when it finishes: its steps file is written under a temporary name and
renamed, then its row is committed, so a done row always has its file and an interrupted
sweep leaves no half record. The run id hashes everything that makes the run (parameters,
scenario, seed, steps, config, chain), so running the same command again skips the done
runs and re-runs the failed and missing ones.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, param_key TEXT NOT NULL, params TEXT NOT NULL,
    scenario TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL, error TEXT,
    summary TEXT, steps_path TEXT, seconds REAL, attempts INTEGER NOT NULL DEFAULT 1,
    finished_at TEXT NOT NULL, trial INTEGER
);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY, param_key TEXT NOT NULL, params TEXT NOT NULL,
    state TEXT NOT NULL, value REAL, constraints TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_RUN_COLUMNS = (
    "run_id",
    "param_key",
    "params",
    "scenario",
    "seed",
    "status",
    "error",
    "summary",
    "steps_path",
    "seconds",
    "attempts",
    "finished_at",
    "trial",
)


class ResultStore:
    """Records of one sweep's runs in `folder` (created if missing)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        (self.folder / "steps").mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "sweep.db"
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on error, always closed."""
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    # --- runs ---

    def record(
        self,
        run_id: str,
        params: dict[str, Any],
        scenario: str,
        seed: int,
        status: str,
        *,
        param_key: str,
        summary: dict[str, Any] | None = None,
        steps: pd.DataFrame | None = None,
        error: str | None = None,
        seconds: float | None = None,
        trial: int | None = None,
    ) -> None:
        """Store one finished run (status done or failed); replaces an earlier attempt."""
        if status not in ("done", "failed"):
            raise ValueError(f"status = {status!r}: done or failed")
        steps_path = None
        if steps is not None:
            steps_path = f"steps/{run_id}.parquet"
            final = self.folder / steps_path
            tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
            steps.rename_axis("step").to_parquet(tmp)
            os.replace(tmp, final)
        with self._db() as db:
            row = db.execute("SELECT attempts FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            attempts = (row["attempts"] + 1) if row else 1
            db.execute(
                f"INSERT OR REPLACE INTO runs ({', '.join(_RUN_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_RUN_COLUMNS))})",
                (
                    run_id,
                    param_key,
                    json.dumps(params, sort_keys=True),
                    scenario,
                    int(seed),
                    status,
                    error,
                    json.dumps(summary, default=_jsonable) if summary else None,
                    steps_path,
                    seconds,
                    attempts,
                    time.strftime("%Y-%m-%dT%H:%M:%S"),
                    trial,
                ),
            )

    def records(self, run_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Stored runs (all, or those among run_ids), with params and summary decoded."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY finished_at, run_id").fetchall()
        wanted = set(run_ids) if run_ids is not None else None
        out = []
        for r in rows:
            if wanted is not None and r["run_id"] not in wanted:
                continue
            d = dict(r)
            d["params"] = json.loads(d["params"])
            d["summary"] = json.loads(d["summary"]) if d["summary"] else {}
            out.append(d)
        return out

    def done_ids(self) -> set[str]:
        with self._db() as db:
            rows = db.execute("SELECT run_id FROM runs WHERE status = 'done'").fetchall()
        return {r["run_id"] for r in rows}

    def pending(self, tasks: Iterable[Any]) -> list[Any]:
        """The tasks (anything with .run_id) still to run: missing or failed."""
        done = self.done_ids()
        return [t for t in tasks if t.run_id not in done]

    def forget(self, run_id: str) -> None:
        """Drop one run's record (as if it never ran)."""
        with self._db() as db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    def steps(self, record: dict[str, Any]) -> pd.DataFrame:
        return pd.read_parquet(self.folder / record["steps_path"])

    # --- optuna trials ---

    def save_trial(self, number: int, params: dict[str, Any], param_key: str) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR IGNORE INTO trials (number, param_key, params, state) "
                "VALUES (?, ?, ?, 'running')",
                (number, param_key, json.dumps(params, sort_keys=True)),
            )

    def finish_trial(
        self, number: int, state: str, value: float | None, constraints: list[float] | None
    ) -> None:
        with self._db() as db:
            db.execute(
                "UPDATE trials SET state = ?, value = ?, constraints = ? WHERE number = ?",
                (
                    state,
                    value,
                    json.dumps(constraints) if constraints is not None else None,
                    number,
                ),
            )

    def trials(self) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM trials ORDER BY number").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["params"] = json.loads(d["params"])
            d["constraints"] = json.loads(d["constraints"]) if d["constraints"] else None
            out.append(d)
        return out

    # --- meta ---

    def set_meta(self, key: str, value: Any) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    return str(x)
