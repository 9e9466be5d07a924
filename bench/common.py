"""Helpers the benchmarks share: fresh databases, Alembic, figures, percentiles."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from app.cli import migrate  # the one Alembic upgrade ("heads")
from models.db import recreate_postgres_database

ROOT = Path(__file__).resolve().parent.parent
#: An admin connection to the server the benchmarks run on (trust auth, user postgres).
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pg_url(database: str) -> str:
    """Return the SQLAlchemy URL of ``database`` on the benchmark server."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"


def libpq_url(url: str) -> str:
    """Return a SQLAlchemy PostgreSQL URL as libpq (psql, pgbench, psycopg) spells it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def fresh_postgres_database(name: str) -> str:
    """Drop and create a PostgreSQL database; return its URL (not migrated)."""
    return recreate_postgres_database(PG_ADMIN_URL, name)


def drop_postgres_database(name: str) -> None:
    recreate_postgres_database(PG_ADMIN_URL, name, drop_only=True)


def fresh_migrated_postgres(name: str) -> str:
    url = fresh_postgres_database(name)
    migrate(url)
    return url


def fresh_migrated_sqlite(directory: Path, name: str) -> str:
    url = f"sqlite:///{directory / name}"
    migrate(url)
    return url


def on_fresh_database(name: str, db: str, bench: Callable[[str], None]) -> None:
    """Run ``bench(url)`` on a migrated database of its own: PostgreSQL ``liuzhuan_bench_<name>``
    (dropped afterwards, whatever happens) or a SQLite file in a new temporary directory."""
    if db == "postgres":
        url = fresh_migrated_postgres(f"liuzhuan_bench_{name}")
        try:
            bench(url)
        finally:
            drop_postgres_database(f"liuzhuan_bench_{name}")
    else:
        bench(fresh_migrated_sqlite(Path(tempfile.mkdtemp(prefix=f"bench-{name}-")), f"{name}.db"))


def database_arguments(doc: str | None, rounds: int, rounds_help: str) -> argparse.ArgumentParser:
    """The arguments every report benchmark takes: ``--db sqlite|postgres`` and ``-n`` rounds (``doc``:
    the module's docstring, whose first line describes it)."""
    parser = argparse.ArgumentParser(description=(doc or "").strip().split("\n", 1)[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("-n", type=int, default=rounds, help=rounds_help)
    return parser


def latency_figures(name: str, values: Sequence[float]) -> None:
    """``name_p50`` and ``name_p95`` of timings in milliseconds."""
    figure(f"{name}_p50", percentile(values, 50), "ms")
    figure(f"{name}_p95", percentile(values, 95), "ms")


def figure(name: str, value: float | int, unit: str = "", digits: int = 1) -> None:
    """Print one figure as ``name: value unit`` (integers without decimals)."""
    shown = str(value) if isinstance(value, int) else f"{value:.{digits}f}"
    print(f"{name}: {shown} {unit}".rstrip(), flush=True)


def note(message: str) -> None:
    """Progress and diagnostics go to stderr, so stdout holds only figures."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def find_pgbench() -> str:
    """Return the path of pgbench (PATH first, then the Debian layout)."""
    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    raise FileNotFoundError("pgbench not found: install postgresql-client or put it on PATH")


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start
