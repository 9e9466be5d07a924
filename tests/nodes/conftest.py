"""The multi-node harness (issue 14): headquarters as a real server process, edge nodes as driver
processes with SQLite databases of their own, each behind a link proxy the test can cut.

``world`` (parametrized: headquarters on SQLite and on PostgreSQL) gives a :class:`World`: gunicorn
serving ``app.factory:create_app()`` on a free loopback port with the demo org, nodes N1 (site SX) and
N2 (site MD) registered, set up and synced once, and a driver in server mode on headquarters' database
for operations there. Everything is a subprocess with its own environment: the node code is
process-global, so the pytest process never posts anything itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_ADMIN_URL, fresh_postgres_database
from tests.nodes.link import Link
from tests.nodes.node_driver import ROOT, Driver

#: Node code → the sites it serves (codes of the demo org).
NODES: dict[str, tuple[str, ...]] = {"N1": ("SX",), "N2": ("MD",)}
_CLEAN_ENV = ("DATABASE_URL", "LIUZHUAN_NODE", "LIUZHUAN_HQ_URL", "LIUZHUAN_NODE_KEY", "LIUZHUAN_VAR_DIR",
              "LIUZHUAN_ENV", "PUBLIC_BASE_URL", "REDIS_URL")


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN_ENV}
    env.update(values)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _cli(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"app.cli {' '.join(args)} failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until headquarters accepts connections (or its process has died: then fail with its log)."""
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"headquarters exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.1)


class World:
    """Headquarters, its links, the node drivers and headquarters' driver, and the checks over them."""

    def __init__(self, tmp: Path, database_url: str) -> None:
        self.tmp = tmp
        self.hq_url = database_url
        self.hq_env = _env(DATABASE_URL=database_url, LIUZHUAN_VAR_DIR=str(tmp / "hqvar"),
                           PUBLIC_BASE_URL="http://127.0.0.1")
        _cli(["setup"], self.hq_env)
        self.keys: dict[str, str] = {}
        for code, sites in NODES.items():
            out = _cli(["node", "register", code, "--sites", ",".join(sites), "--org", "demo-tea"], self.hq_env)
            found = re.search(r"^LIUZHUAN_NODE_KEY=(\S+)$", out, re.M)
            assert found, out
            self.keys[code] = found.group(1)
        self.port = _free_port()
        log = tmp / "gunicorn.log"
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
             "--threads", "4", "--log-file", str(log), "app.factory:create_app()"],
            cwd=ROOT, env=self.hq_env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_listening(self.port, self.server, log)
        self.links = {code: Link(("127.0.0.1", self.port)) for code in NODES}
        self.drivers: dict[str, Driver] = {"HQ": Driver("HQ", self.hq_env, tmp)}
        for code in NODES:
            env = _env(DATABASE_URL=f"sqlite:///{tmp / f'{code}.db'}", LIUZHUAN_VAR_DIR=str(tmp / f"{code}var"),
                       LIUZHUAN_NODE=code, LIUZHUAN_HQ_URL=self.links[code].url,
                       LIUZHUAN_NODE_KEY=self.keys[code])
            _cli(["setup", "--no-demo"], env)
            self.drivers[code] = Driver(code, env, tmp)
            first = self.drivers[code].call({"cmd": "sync"})
            assert first["ok"], first

    def close(self) -> None:
        for d in self.drivers.values():
            d.close()
        for link in self.links.values():
            link.close()
        self.server.kill()
        self.server.wait()

    # ------------------------------------------------------------------ settling and checking

    def sync_until_quiet(self) -> None:
        """All links up; every node syncs, then syncs again: the second round must move nothing."""
        for link in self.links.values():
            link.set("up")
        for code in NODES:
            got = self.drivers[code].call({"cmd": "sync"})
            assert got["ok"], (code, got)
        for code in NODES:
            again = self.drivers[code].call({"cmd": "sync"})
            assert again["ok"], (code, again)
            assert (again["up"], again["down"]) == (0, 0), f"{code}: a second sync still moved rows: {again}"

    def check(self) -> dict[str, dict[str, Any]]:
        """The issue's invariants between headquarters and every node; returns the dumps."""
        dumps = {name: d.call({"cmd": "dump"}) for name, d in self.drivers.items()}
        hq = dumps["HQ"]
        site_ids = self._site_ids()
        for name, dump in dumps.items():
            assert dump["unbalanced"] == [], f"{name}: vouchers that do not balance: {dump['unbalanced']}"
            assert dump["ledger"] == [], f"{name}: balances differ from Σ moves: {dump['ledger']}"
            assert dump["move_rows"] == len({m[0] for m in dump["moves"]}), f"{name}: a move id twice"
            doubled = [n for n, k in Counter(dump["documents"]).items() if k > 1]
            assert doubled == [], f"{name}: document numbers twice: {doubled}"
        for code in NODES:
            node = dumps[code]
            assert node["sync_log"] == 0, f"{code}: {node['sync_log']} changes never acknowledged"
            mine = {m[0] for m in node["moves"] if m[5] == code}
            at_hq = [m[0] for m in hq["moves"] if m[5] == code]
            assert len(at_hq) == len(set(at_hq)), f"{code}: moves doubled at headquarters"
            assert set(at_hq) == mine, (f"{code}: missing at headquarters {sorted(mine - set(at_hq))[:5]}, "
                                        f"unknown to the node {sorted(set(at_hq) - mine)[:5]}")
            docs = {n for n in node["documents"] if f"-{code}-" in n}
            lost = docs - set(hq["documents"])
            assert not lost, f"{code}: documents missing at headquarters: {sorted(lost)[:5]}"
            sites = {site_ids[s] for s in NODES[code]}
            assert _sums(hq["moves"], sites) == _sums(node["moves"], sites), f"{code}: Σ moves differ"
        for c in hq["conflicts"]:
            assert c[3] is not None and c[4], f"conflict without its to-do: {c}"
        return dumps

    def _site_ids(self) -> dict[str, int]:
        from sqlalchemy import select

        from models.db import make_engine
        from models.org import Org, Site

        engine = make_engine(self.hq_url)  # reading only: the pytest process posts nothing
        try:
            with engine.connect() as conn:
                org = conn.scalar(select(Org.id).where(Org.code == "demo-tea"))
                return {code: sid for code, sid in conn.execute(select(Site.code, Site.id).where(Site.org_id == org))}
        finally:
            engine.dispose()


def _sums(moves: list[list[Any]], sites: set[int]) -> dict[tuple[int, int, int], Decimal]:
    out: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
    for _id, item, site, lot, qty, _origin in moves:
        if site in sites:
            out[(item, site, lot)] += Decimal(qty)
    return {k: v for k, v in out.items() if v != 0}


def hq_database(kind: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """A fresh headquarters database: a SQLite file, or a PostgreSQL database (FAIL if PG is down)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'hq.db'}"
    name = f"liuzhuan_nodes_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        url = fresh_postgres_database(name)
    except Exception as exc:  # any connection failure: the service is missing, and that is a failure here
        pytest.fail(f"PostgreSQL ({PG_ADMIN_URL}) is not reachable for headquarters: {exc}")
    from models.db import recreate_postgres_database

    request.addfinalizer(lambda: recreate_postgres_database(PG_ADMIN_URL, name, drop_only=True))
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, hq_database(request.param, tmp_path, request))
    try:
        yield w
    finally:
        w.close()
