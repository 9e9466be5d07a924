"""A long-running process that does one side's work in the multi-node harness, on that side's database.

Run as ``python -m tests.nodes.node_driver`` with DATABASE_URL and, for an edge node, LIUZHUAN_NODE,
LIUZHUAN_HQ_URL (the link proxy's URL) and LIUZHUAN_NODE_KEY; without LIUZHUAN_NODE it works on
headquarters' database ("server mode"), beside headquarters' web process. The node code is
process-global (models.node), which is why every side gets a process of its own and the pytest process
never posts anything itself.

It reads one JSON command per line on stdin and answers one JSON line ({"ok": …}); a sync also writes
{"progress": round, …} lines as its rounds complete, so the test can kill it after a chosen number.
Commands (names, not ids: the driver resolves them in its own database):

- ``{"cmd": "receive", "site": "SX", "item": "茶青", "qty": "12.5", "farmer": "王阿姨", "grade": "特级", "n": 1}``
- ``{"cmd": "ship", "site": "SX", "item": "茶青", "qty": "3", "customer": "杭州茶城", "price": "100"}``
- ``{"cmd": "sync", "batch": 500, "kill_at": {"round": 2, "phase": "after_post"}}``: exchange until
  caught up (app.node_sync.exchange_once); ``kill_at`` makes the driver SIGKILL itself at that point
  of that round: ``before_post``, ``after_post`` (headquarters committed, the answer unapplied) or
  ``mid_apply`` (the answer applied in the open transaction, not committed).
- ``{"cmd": "dump"}``: moves, document numbers, unbalanced vouchers, ledger/balance problems, the
  unsent change log, and (at headquarters) the sync conflicts with their to-dos.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the driver process


class _World:
    """What the driver process knows: settings, its database and the org's names → ids."""

    def __init__(self) -> None:
        from app.settings import Settings
        from models import node
        from models.db import make_engine, make_session_factory

        self.settings = Settings.from_env()
        node.configure(self.settings.node_name)  # what app.factory does: numbers and moves carry the code
        self.code = self.settings.node_name
        self.engine = make_engine(self.settings.database_url)
        self.sf: sessionmaker[Session] = make_session_factory(self.engine)

    def org_id(self, session: Session) -> int:
        from models.org import Org

        ids = list(session.scalars(select(Org.id).order_by(Org.id)))
        if len(ids) != 1:
            raise LookupError(f"expected one organisation here, found {len(ids)} (has the node synced once?)")
        return ids[0]

    def names(self, cmd: dict[str, Any]) -> dict[str, int | None]:
        from models.catalog import Grade, Item
        from models.org import Party, Site

        with self.sf() as s:
            org = self.org_id(s)
            item = s.scalar(select(Item.id).where(Item.org_id == org, Item.name.like(f"{cmd['item']}%")))
            out: dict[str, int | None] = {
                "org": org, "item": item,
                "site": s.scalar(select(Site.id).where(Site.org_id == org, Site.code == cmd["site"])),
                "party": None, "grade": None}
            party = cmd.get("farmer") or cmd.get("customer")
            if party:
                out["party"] = s.scalar(select(Party.id).where(Party.org_id == org, Party.name == party))
            if cmd.get("grade"):
                out["grade"] = s.scalar(select(Grade.id).where(Grade.item_id == item, Grade.name == cmd["grade"]))
        return out


def _domain(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    from models.errors import DomainError

    try:
        return fn()
    except DomainError as exc:
        return {"ok": False, "code": exc.code, "message": exc.message}


def _receive(w: _World, cmd: dict[str, Any]) -> dict[str, Any]:
    from models.actor import Actor
    from models.operations import ReceiveGoods, receive_goods
    from models.uow import run

    ids = w.names(cmd)
    actor = Actor.system_actor(int(ids["org"] or 0), "测试")
    numbers = []
    for _ in range(int(cmd.get("n", 1))):  # each receipt in its own transaction, as a clerk would post it
        got = run(w.sf, receive_goods, actor, ReceiveGoods(
            site_id=int(ids["site"] or 0), item_id=int(ids["item"] or 0), quantity=Decimal(cmd["qty"]),
            party_id=ids["party"], grade_id=ids["grade"]))
        numbers.append(got.number)
    return {"ok": True, "numbers": numbers}


def _ship(w: _World, cmd: dict[str, Any]) -> dict[str, Any]:
    from models.actor import Actor
    from models.operations import ShipGoods, ship_goods
    from models.uow import run

    ids = w.names(cmd)
    got = run(w.sf, ship_goods, Actor.system_actor(int(ids["org"] or 0), "测试"), ShipGoods(
        site_id=int(ids["site"] or 0), item_id=int(ids["item"] or 0), quantity=Decimal(cmd["qty"]),
        party_id=ids["party"], unit_price=Decimal(cmd.get("price", "100"))))
    return {"ok": True, "numbers": [got.number]}


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _sync(w: _World, cmd: dict[str, Any], out: IO[str]) -> dict[str, Any]:
    from app import node_sync
    from models.operations import node_replica
    from models.operations.nodes import RecordSync, record_sync
    from models.uow import run

    kill = cmd.get("kill_at") or {}
    rounds = 0
    # Instrument this process's copy of the exchange: the batch size, and where to die if asked.
    node_sync.up_batch = functools.partial(node_replica.up_batch, limit=int(cmd.get("batch", node_replica.BATCH)))
    post, apply = _ORIGINAL["post"], _ORIGINAL["apply"]

    def at(phase: str) -> None:
        if kill.get("round") == rounds and kill.get("phase") == phase:
            _die()

    def post_hook(*args: Any, **kwargs: Any) -> Any:
        at("before_post")
        resp = post(*args, **kwargs)
        at("after_post")
        return resp

    def apply_hook(session: Session, answer: dict[str, Any]) -> dict[str, int]:
        result = apply(session, answer)
        session.flush()
        at("mid_apply")
        return result

    node_sync._post = post_hook
    node_sync.apply_answer = apply_hook
    up = down = conflicts = 0
    try:
        for _ in range(1000):
            rounds += 1
            got = node_sync.exchange_once(w.settings, w.sf)
            up, down, conflicts = up + got["up"], down + got["down"], conflicts + got["conflicts"]
            out.write(json.dumps({"progress": rounds, "up": got["up"], "down": got["down"]}) + "\n")
            out.flush()
            if not got["more"]:
                break
    except node_sync.SyncFailed as exc:
        run(w.sf, record_sync, RecordSync(w.code, ok=False, error=str(exc)))
        return {"ok": False, "message": str(exc), "up": up, "down": down, "rounds": rounds}
    from datetime import datetime

    run(w.sf, record_sync, RecordSync(w.code, ok=True, hq_time=datetime.fromisoformat(got["server_time"])))
    return {"ok": True, "up": up, "down": down, "conflicts": conflicts, "rounds": rounds}


def _dump(w: _World, _cmd: dict[str, Any]) -> dict[str, Any]:
    from models.documents import Document
    from models.finance import Voucher, VoucherLine
    from models.invariants import ledger_matches_balances
    from models.nodes import SyncConflict, SyncLog
    from models.stock import StockMove
    from models.tasks import Todo

    with w.sf() as s:
        org = w.org_id(s)
        moves = [[m.id.hex, m.item_id, m.site_id, m.lot_id, str(m.quantity), m.origin_node]
                 for m in s.scalars(select(StockMove).where(StockMove.org_id == org))]
        move_rows = s.scalar(select(func.count()).select_from(StockMove).where(StockMove.org_id == org))
        documents = list(s.scalars(select(Document.number).where(Document.org_id == org)))
        sums = s.execute(select(Voucher.id, Voucher.number, func.coalesce(func.sum(VoucherLine.debit), 0),
                                func.coalesce(func.sum(VoucherLine.credit), 0))
                         .outerjoin(VoucherLine, VoucherLine.voucher_id == Voucher.id)
                         .where(Voucher.org_id == org).group_by(Voucher.id, Voucher.number)).all()
        unbalanced = [f"{n}: {d} != {c}" for _i, n, d, c in sums if Decimal(d) != Decimal(c)]
        conflicts = [[c.id, c.rule, c.row_key, c.todo_id, c.todo_id is not None and s.get(Todo, c.todo_id) is not None]
                     for c in s.scalars(select(SyncConflict).where(SyncConflict.org_id == org))]
        return {"ok": True, "code": w.code, "moves": moves, "move_rows": move_rows, "documents": documents,
                "vouchers": len(sums), "unbalanced": unbalanced, "ledger": ledger_matches_balances(s, org),
                "sync_log": s.scalar(select(func.count()).select_from(SyncLog)), "conflicts": conflicts}


_ORIGINAL: dict[str, Any] = {}


def serve(lines: Iterator[str], out: IO[str]) -> None:
    """Answer commands until stdin closes."""
    from app import node_sync

    _ORIGINAL.update(post=node_sync._post, apply=node_sync.apply_answer)
    w = _World()
    out.write(json.dumps({"ready": True, "code": w.code}) + "\n")
    out.flush()
    for line in lines:
        if not line.strip():
            continue
        cmd = json.loads(line)
        name = cmd.get("cmd")
        if name == "receive":
            answer = _domain(functools.partial(_receive, w, cmd))
        elif name == "ship":
            answer = _domain(functools.partial(_ship, w, cmd))
        elif name == "sync":
            answer = _sync(w, cmd, out)
        elif name == "dump":
            answer = _dump(w, cmd)
        else:
            answer = {"ok": False, "message": f"unknown command {name!r}"}
        out.write(json.dumps(answer, ensure_ascii=False, default=str) + "\n")
        out.flush()


# --------------------------------------------------------------------------- the test's handle on one


class Driver:
    """The test process's handle on one driver process: send a command, read its answer; kill, restart."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.log_dir = log_dir
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0
        self.start()

    def start(self) -> None:
        self.starts += 1
        stderr = open(self.log_dir / f"driver-{self.name}-{self.starts}.log", "w")  # noqa: SIM115  (the child's)
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.nodes.node_driver"], cwd=ROOT, env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                     bufsize=1)
        stderr.close()
        hello = self._line()
        if not hello or not hello.get("ready"):
            raise RuntimeError(f"driver {self.name} did not start: {hello}; see {self.log_dir}")

    def _line(self) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        raw = self.proc.stdout.readline()
        return json.loads(raw) if raw else None

    def send(self, cmd: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()

    def answer(self, progress: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any] | None:
        """Read lines up to the command's answer; None if the process died first. ``progress`` sees each
        progress line and may return True to stop reading there (the caller kills the process)."""
        while True:
            line = self._line()
            if line is None:
                return None
            if "progress" in line:
                if progress is not None and progress(line):
                    return line
                continue
            return line

    def call(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.send(cmd)
        got = self.answer()
        if got is None:
            raise RuntimeError(f"driver {self.name} died on {cmd}; see {self.log_dir}")
        return got

    def kill(self) -> None:
        """SIGKILL, as a power cut would; wait for the process to be gone."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a broken pipe to a dead child
                    stream.close()

    def died(self) -> bool:
        """Wait for a driver that was told to kill itself; tell whether SIGKILL ended it."""
        assert self.proc is not None
        status = self.proc.wait()
        self.kill()
        return status == -signal.SIGKILL

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


if __name__ == "__main__":
    serve(iter(sys.stdin), sys.stdout)
