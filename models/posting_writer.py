"""The posting writer: the rows an operation produces, sent as one pipeline of set-based statements.

An ORM flush of a receipt was ~20 statements, each its own round trip, and most of the receipt's
client CPU. The writer instead collects plain rows per table and sends them together: one
``INSERT`` per table (``executemany``), each balance change as one ``INSERT … ON CONFLICT DO UPDATE
… RETURNING``, all inside one psycopg pipeline (one round trip) on the session's own connection and
transaction. Ids that later rows refer to (document, lot, voucher) are allocated up front, with the
human numbers, in one statement (:meth:`PostingWriter.reserve`), so no ``RETURNING`` round trip is
needed per row. On SQLite there are no round trips; the same code runs statement by statement
under the transaction's write lock.

Statements are compiled once per (table, columns, dialect) and executed on the DBAPI cursor with
SQLAlchemy's own bind processors, so a row is stored exactly as the ORM would store it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from models.base import Base
from models.documents import NumberSequence
from models.infra import OutboxEvent
from models.outbox import OUTBOX_WRITTEN
from models.stock import Balance


def table_of(model: type[Base]) -> Table:
    """The Table of a mapped class (``__table__`` is typed as a FromClause)."""
    return cast(Table, model.__table__)


_numbers = table_of(NumberSequence)
_events = table_of(OutboxEvent)
_balances = table_of(Balance)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Parameter names in order (SQLite's qmark style), or None for named (psycopg's pyformat).
    order: tuple[str, ...] | None
    processors: Mapping[str, Any]
    results: tuple[Any, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)


_compiled: dict[tuple[Any, ...], _Compiled] = {}
_compiled_lock = threading.Lock()


def _compile(key: tuple[Any, ...], dialect: Dialect, build: Callable[[], Any], types: Mapping[str, Any], *,
             insert_columns: bool = False) -> _Compiled:
    """Compile a statement once per key and dialect; keep the bind processors of its parameters
    (and, for a SELECT, the result processors of its columns)."""
    found = _compiled.get(key)
    if found is not None:
        return found
    stmt = build()
    compiled = stmt.compile(dialect=dialect, column_keys=list(types) if insert_columns else None)
    processors = {}
    for name, type_ in types.items():
        proc = type_._cached_bind_processor(dialect)
        if proc is not None:
            processors[name] = proc
    results: tuple[Any, ...] = ()
    if getattr(stmt, "is_select", False):
        results = tuple(col.type._cached_result_processor(dialect, None) for col in stmt.selected_columns)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    # Values the statement carries itself (a literal 1 becomes a parameter too).
    fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
    made = _Compiled(sql=compiled.string, order=order, processors=processors, results=results, fixed=fixed)
    with _compiled_lock:
        _compiled[key] = made
    return made


def _params(compiled: _Compiled, row: Mapping[str, Any]) -> Any:
    procs = compiled.processors
    values = {k: (procs[k](v) if k in procs and v is not None else v) for k, v in row.items()}
    if compiled.fixed:
        values = {**compiled.fixed, **values}
    if compiled.order is not None:
        return tuple(values[name] for name in compiled.order)
    return values


def _defaults(table: Table) -> dict[str, Any]:
    """Column name → Python-side default (scalar or zero-argument callable) of a table."""
    found: dict[str, Any] = {}
    for col in table.columns:
        default = col.default
        if default is None or not (default.is_scalar or default.is_callable):
            continue
        found[col.name] = default
    return found


_table_defaults: dict[str, dict[str, Any]] = {}


def _with_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    defaults = _table_defaults.get(table.name)
    if defaults is None:
        defaults = _table_defaults[table.name] = _defaults(table)
    for name, default in defaults.items():
        if name not in row:
            row[name] = default.arg if default.is_scalar else default.arg(None)
    return row


@dataclass(frozen=True)
class Read:
    """A SELECT for :meth:`PostingWriter.fetch`: built once (with bindparams), run with ``params``."""

    key: str
    build: Callable[[], Any]
    params: Mapping[str, Any]
    #: Bind parameter name → SQL type (for its bind processor).
    types: Mapping[str, Any]


class PostingWriter:
    """Rows of the current transaction, waiting to be sent together (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[tuple[str, tuple[str, ...]], tuple[Table, list[dict[str, Any]]]] = {}
        self._balances: list[dict[str, Any]] = []
        self.statements = 0  # sent so far in this transaction (the bench prints it)

    # -- collecting -------------------------------------------------------------------------
    def insert(self, table: Table, **values: Any) -> dict[str, Any]:
        """Queue one row of ``table`` (Python-side column defaults filled in now)."""
        row = _with_defaults(table, values)
        key = (table.name, tuple(row))
        self._rows.setdefault(key, (table, []))[1].append(row)
        return row

    def bump_balance(self, org_id: int, item_id: int, site_id: int, lot_id: int, quantity: Decimal,
                     value: Decimal) -> None:
        """Queue a change of one (item, site, lot) balance, created at zero if new."""
        self._balances.append({"org_id": org_id, "item_id": item_id, "site_id": site_id, "lot_id": lot_id,
                               "on_hand": quantity, "reserved": Decimal(0), "value": value})

    @property
    def pending(self) -> bool:
        return bool(self._rows or self._balances)

    # -- the connection ---------------------------------------------------------------------
    def _dbapi(self) -> tuple[Any, Dialect]:
        conn = self.session.connection()
        return conn.connection.dbapi_connection, conn.dialect

    @contextlib.contextmanager
    def _pipeline(self, raw: Any, dialect: Dialect) -> Iterator[None]:
        """One round trip on PostgreSQL (psycopg pipeline mode); plain statements on SQLite. Read
        results only after the block: leaving it syncs once and hands every cursor its rows
        (reading inside would cost a round trip per read and one more to leave)."""
        try:
            if dialect.name == "postgresql":
                with raw.pipeline():
                    yield
            else:
                yield
        except dialect.loaded_dbapi.Error as exc:
            # Raised by the driver, not through SQLAlchemy: hand it to SQLAlchemy's own handling, so
            # it is wrapped as usual (models.uow retries a serialization failure, answers CONFLICT
            # for a duplicate), the engine's handle_error listeners see it, and a dropped connection
            # is invalidated.
            self.session.connection()._handle_dbapi_exception(exc, "-- posting writer pipeline", None, None, None)

    # -- numbers and ids --------------------------------------------------------------------
    def reserve(self, org_id: int, series: Sequence[tuple[str, str]], tables: Sequence[Table]) -> tuple[
            list[int], dict[str, int]]:
        """Allocate the next number of each (series, period) and one new id per table, in one statement.

        The counters' row locks are held until commit (same connection and transaction): take them
        after every balance lock the operation needs, so a posting never waits for a balance while
        holding a counter another posting waits for.
        """
        raw, dialect = self._dbapi()
        wanted = sorted(set(series))  # one lock order for every posting
        names = [t.name for t in tables]
        with self._pipeline(raw, dialect):
            numbers_cur = self._send_numbers(raw, dialect, org_id, wanted) if wanted else None
            ids_cur = None
            if names:
                if dialect.name == "postgresql":
                    sql = "SELECT " + ", ".join(f"nextval('{n}_id_seq')" for n in names)
                else:  # under the transaction's write lock: nobody else inserts before we do
                    sql = "SELECT " + ", ".join(f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {n})" for n in names)
                ids_cur = raw.cursor()
                ids_cur.execute(sql)
                self.statements += 1
        numbers = {(r[0], r[1]): int(r[2]) for r in numbers_cur.fetchall()} if numbers_cur else {}
        got = ids_cur.fetchone() if ids_cur else ()
        ids = dict(zip(names, (int(v) for v in got), strict=True))
        return [numbers[s] for s in series], ids

    def _send_numbers(self, raw: Any, dialect: Dialect, org_id: int, wanted: list[tuple[str, str]]) -> Any:
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        names = [(f"s{i}", f"p{i}") for i in range(len(wanted))]

        def build() -> Any:
            stmt = insert(_numbers).values([
                {"org_id": bindparam("org_id"), "series": bindparam(s), "period": bindparam(p), "last": 1}
                for s, p in names])
            return stmt.on_conflict_do_update(
                index_elements=["org_id", "series", "period"], set_={"last": _numbers.c.last + 1},
            ).returning(_numbers.c.series, _numbers.c.period, _numbers.c.last)

        compiled = _compile(("numbers", len(wanted), dialect.name), dialect, build, {})
        params: dict[str, Any] = {"org_id": org_id}
        for (s, p), (series, period) in zip(names, wanted, strict=True):
            params[s], params[p] = series, period
        cur = raw.cursor()
        cur.execute(compiled.sql, _params(compiled, params))
        self.statements += 1
        return cur

    # -- sending ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Flush the ORM's pending rows (those may be referred to), then send the queued ones."""
        self.session.flush()
        self.send()

    def send(self) -> None:
        """Send every queued row and balance change now, in one pipeline; the caller commits."""
        if not self.pending:
            return
        raw, dialect = self._dbapi()
        rows, self._rows = self._rows, {}
        balances, self._balances = self._balances, []
        returned: list[Any] = []
        with self._pipeline(raw, dialect):
            cur = raw.cursor()
            for (name, columns), (table, batch) in rows.items():
                if name == _events.name:
                    self.session.info[OUTBOX_WRITTEN] = True
                compiled = _compile(("insert", name, columns, dialect.name), dialect, table.insert,
                                    {c: table.c[c].type for c in columns}, insert_columns=True)
                cur.executemany(compiled.sql, [_params(compiled, r) for r in batch])
                self.statements += 1
            if balances:
                self._send_balances(raw, dialect, balances, returned)
        self._forget_balances(balances)

    def fetch(self, reads: Sequence[Read]) -> list[list[tuple[Any, ...]]]:
        """Run SELECTs together (one round trip on PostgreSQL; the transaction's BEGIN rides along)."""
        raw, dialect = self._dbapi()
        cursors = []
        compiled_reads = []
        with self._pipeline(raw, dialect):
            for read in reads:
                compiled = _compile(("select", read.key, dialect.name), dialect, read.build, read.types)
                cur = raw.cursor()
                cur.execute(compiled.sql, _params(compiled, read.params))
                cursors.append(cur)
                compiled_reads.append(compiled)
                self.statements += 1
        fetched = [cur.fetchall() for cur in cursors]
        out = []
        for compiled, rows in zip(compiled_reads, fetched, strict=True):
            procs = compiled.results
            out.append([tuple(p(v) if p is not None else v for p, v in zip(procs, row, strict=True)) for row in rows])
        return out

    def discard(self) -> None:
        """Drop queued rows (the operation failed: nothing of it may be written)."""
        self._rows.clear()
        self._balances.clear()

    def _send_balances(self, raw: Any, dialect: Dialect, balances: list[dict[str, Any]], returned: list[Any]) -> None:
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        cols = ("org_id", "item_id", "site_id", "lot_id", "on_hand", "reserved", "value")

        def build() -> Any:
            stmt = insert(_balances).values({c: bindparam(c) for c in cols})
            return stmt.on_conflict_do_update(
                index_elements=["item_id", "site_id", "lot_id"],
                set_={"on_hand": _balances.c.on_hand + stmt.excluded.on_hand,
                      "value": _balances.c.value + stmt.excluded.value},
            ).returning(_balances.c.on_hand)

        compiled = _compile(("balance", dialect.name), dialect, build, {c: _balances.c[c].type for c in cols})
        for change in balances:
            cur = raw.cursor()
            cur.execute(compiled.sql, _params(compiled, change))
            returned.append(cur)
            self.statements += 1

    def _forget_balances(self, balances: list[dict[str, Any]]) -> None:
        """Expire Balance objects this session holds for the changed rows (they were written behind the ORM)."""
        if not balances:
            return
        keys = {(b["item_id"], b["site_id"], b["lot_id"]) for b in balances}
        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, Balance) and (obj.item_id, obj.site_id, obj.lot_id) in keys:
                self.session.expire(obj)


def writer_for(session: Session) -> PostingWriter:
    """The session's posting writer (one per session; created on first use)."""
    writer = session.info.get("posting_writer")
    if writer is None:
        writer = session.info["posting_writer"] = PostingWriter(session)
    return writer


def flush_writer(session: Session) -> None:
    """Send the session's queued rows, if it has a writer with any."""
    writer = session.info.get("posting_writer")
    if writer is not None and writer.pending:
        writer.flush()

