"""The posting writer: the rows an operation produces, sent as one pipeline of set-based statements.

An ORM flush of a receipt was ~20 statements, each its own round trip, and most of the receipt's
client CPU. The writer instead collects plain rows per table and sends them together: one
``INSERT`` per table (``executemany``), the balance changes as one ``INSERT … ON CONFLICT DO
UPDATE`` (their new values are not read back: nothing in a posting needs them), all inside one
psycopg pipeline (one round trip) on the session's own connection and
transaction. Ids that later rows refer to (document, lot, voucher) are allocated with the
operation's first reads (:meth:`PostingWriter.ids_read`), so no ``RETURNING`` round trip is needed
per row; human numbers come from blocks taken ahead (models.number_blocks), so no counter row is
locked by a posting. The commit rides in the last pipeline when the operation is the whole
transaction. On SQLite there are no round trips; the same code runs statement by statement under
the write lock, and numbers are bumped in the transaction.

Statements are compiled once per (table, columns, dialect) and executed on the DBAPI cursor with
SQLAlchemy's own bind processors, so a row is stored exactly as the ORM would store it.

On PostgreSQL the queued rows of one send go out as *one* statement: each table's rows as a
multi-row ``INSERT`` in a data-modifying CTE, the balance upsert last (:func:`_one_statement`).
Per statement psycopg's pipeline costs a cursor, a socket write and its result handling, which
made the ten statements of a receipt most of its client CPU; one statement also spares the server
nine Bind/Execute cycles. Foreign keys between the CTEs are checked at the end of the statement,
so parents need not come first. Unusual shapes (many rows, a balance changed twice) keep the
statement-per-table path.
"""

from __future__ import annotations

import contextlib
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import psycopg
from sqlalchemy import BigInteger, Numeric, Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session

from models import id_blocks, node, number_blocks
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
    #: PostgreSQL: the statement with its own $n placeholders (for psycopg's RawCursor, which skips
    #: parsing the query at every execution) and the parameter names in $n order.
    raw_sql: bytes | None = None
    raw_order: tuple[str, ...] = ()


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
        results = tuple(col.type._cached_result_processor(dialect, _driver_type(col.type, dialect))
                        for col in stmt.selected_columns)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    # Values the statement carries itself (a literal 1 becomes a parameter too).
    fixed = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
    raw_sql, raw_order = _numbered(compiled.string) if dialect.name == "postgresql" and order is None else (None, ())
    made = _Compiled(sql=compiled.string, order=order, processors=processors, results=results, fixed=fixed,
                     raw_sql=raw_sql, raw_order=raw_order)
    with _compiled_lock:
        _compiled[key] = made
    return made


_PYFORMAT = re.compile(r"%\(([^)]+)\)s")


def _numbered(sql: str) -> tuple[bytes | None, tuple[str, ...]]:
    """``%(name)s`` placeholders as ``$n`` (one number per name), or None if the text has a literal %."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _PYFORMAT.sub(number, sql)
    if "%" in text:
        return None, ()
    return text.encode(), tuple(names)


def _raw_params(compiled: _Compiled, row: Mapping[str, Any]) -> list[Any]:
    procs = compiled.processors
    values = {**compiled.fixed, **row} if compiled.fixed else row
    out = []
    for name in compiled.raw_order:
        v = values[name]
        proc = procs.get(name)
        out.append(proc(v) if proc is not None and v is not None else v)
    return out


#: psycopg's type code of NUMERIC, which SQLAlchemy's numeric result processor asks for.
_PG_NUMERIC_OID = 1700


def _driver_type(type_: Any, dialect: Dialect) -> int | None:
    """The driver's type code of a selected column as a result processor wants it (only PostgreSQL's
    NUMERIC needs one; it is known without running the statement)."""
    impl = getattr(type_, "impl", type_)
    return _PG_NUMERIC_OID if dialect.name == "postgresql" and isinstance(impl, Numeric) else None


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


_types_cache: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}


def _column_types(table: Table, columns: tuple[str, ...]) -> dict[str, Any]:
    key = (table.name, columns)
    found = _types_cache.get(key)
    if found is None:
        found = _types_cache[key] = {c: table.c[c].type for c in columns}
    return found


#: A send whose groups exceed these goes statement by statement (a batch's rows; bounded shapes).
_ONE_STATEMENT_MAX_ROWS = 64  # a group of receipts (models.group_commit.MAX_GROUP), three voucher lines each
_ONE_STATEMENT_MAX_PARAMS = 4000
_ONE_STATEMENT_MAX_SHAPES = 256

#: psycopg's positional style: the parameters go as a list, in the order compiled.
_FORMAT_DIALECT = PGDialect_psycopg(paramstyle="format")


@dataclass(frozen=True)
class _OneStatement:
    sql: bytes
    #: Per parameter, in order: (group, row, column) it is read from, or (-1, 0, fixed value).
    sources: tuple[tuple[int, int, Any], ...]
    processors: tuple[Any, ...]


#: Shape of a send -> its statement (None: a shape the one statement cannot take).
_shapes: dict[tuple[Any, ...], _OneStatement | None] = {}

_BALANCE_COLUMNS = ("org_id", "item_id", "site_id", "lot_id", "on_hand", "reserved", "value")


def _balance_upsert(rows: list[dict[str, Any]], dialect_name: str) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE`` adding each change to its (item, site, lot) balance."""
    insert_ = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    stmt = insert_(_balances).values(rows) if len(rows) > 1 else insert_(_balances).values(rows[0])
    return stmt.on_conflict_do_update(
        index_elements=["item_id", "site_id", "lot_id"],
        set_={"on_hand": _balances.c.on_hand + stmt.excluded.on_hand,
              "reserved": _balances.c.reserved + stmt.excluded.reserved,
              "value": _balances.c.value + stmt.excluded.value},
    )


def _build_one_statement(groups: list[tuple[Table, tuple[str, ...], int]], balances: int) -> _OneStatement | None:
    """Compile the statement of one shape: ``WITH w0 AS (INSERT …), … <last INSERT>``."""
    dialect = _FORMAT_DIALECT
    where: dict[str, tuple[int, int, str]] = {}
    types: dict[str, Any] = {}
    parts = []
    for g, (table, columns, count) in enumerate(groups):
        rows = []
        for r in range(count):
            row = {}
            for k, column in enumerate(columns):
                name = f"g{g}r{r}c{k}"
                where[name], types[name] = (g, r, column), table.c[column].type
                row[column] = bindparam(name, type_=table.c[column].type)
            rows.append(row)
        # inline: no implicit RETURNING of the ids the server assigns (nothing reads them).
        parts.append(insert(table).values(rows if count > 1 else rows[0]).inline())
    if balances:
        rows = []
        for r in range(balances):
            row = {}
            for column in _BALANCE_COLUMNS:
                name = f"b{r}_{column}"
                where[name], types[name] = (len(groups), r, column), _balances.c[column].type
                row[column] = bindparam(name, type_=_balances.c[column].type)
            rows.append(row)
        parts.append(_balance_upsert(rows, "postgresql").inline())
    sql: list[str] = []
    sources: list[tuple[int, int, Any]] = []
    processors: list[Any] = []
    for part in parts:
        compiled = part.compile(dialect=dialect)
        if compiled.returning or not compiled.positiontup:
            return None
        for name in compiled.positiontup:
            if name in where:
                sources.append(where[name])
                processors.append(types[name]._cached_bind_processor(dialect))
                continue
            bind = compiled.binds[name]  # a column default SQLAlchemy filled in (a scalar) or a literal
            if bind.required or bind.callable is not None:
                return None
            sources.append((-1, 0, bind.value))
            processors.append(bind.type._cached_bind_processor(dialect))
        sql.append(compiled.string)
    text = sql[-1] if len(sql) == 1 else (
        "WITH " + ", ".join(f"w{i} AS ({s})" for i, s in enumerate(sql[:-1])) + " " + sql[-1])
    # PostgreSQL's own $n placeholders, for psycopg's RawCursor: psycopg parses a %s query of more
    # than 50 parameters again at every execution (it caches only small ones).
    pieces = text.split("%s")
    if "%%" in text or len(pieces) - 1 != len(sources):
        return None
    text = pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], 1))
    return _OneStatement(sql=text.encode(), sources=tuple(sources), processors=tuple(processors))


def _one_statement(rows: dict[tuple[str, tuple[str, ...]], tuple[Table, list[dict[str, Any]]]],
                   balances: list[dict[str, Any]]) -> tuple[bytes, list[Any]] | None:
    """The queued rows and balance changes as one PostgreSQL statement and its parameters, or None
    when they must go statement by statement (see the module docstring)."""
    most = max([len(balances), *(len(batch) for _t, batch in rows.values())])
    if most > _ONE_STATEMENT_MAX_ROWS:
        return None
    if len({(b["item_id"], b["site_id"], b["lot_id"]) for b in balances}) != len(balances):
        return None  # one upsert cannot change a row twice
    shape = (tuple((name, columns, len(batch)) for (name, columns), (_t, batch) in rows.items()), len(balances))
    if shape in _shapes:
        found = _shapes[shape]
    else:
        groups = [(table, columns, len(batch)) for (_n, columns), (table, batch) in rows.items()]
        if sum(len(c) * n for _t, c, n in groups) + len(balances) * len(_BALANCE_COLUMNS) > _ONE_STATEMENT_MAX_PARAMS:
            found = None
        else:
            found = _build_one_statement(groups, len(balances))
        with _compiled_lock:
            if len(_shapes) < _ONE_STATEMENT_MAX_SHAPES:
                _shapes[shape] = found
    if found is None:
        return None
    batches = [batch for _t, batch in rows.values()]
    if balances:
        # In the (item, site, lot) order every posting locks in.
        batches.append(sorted(balances, key=lambda b: (b["item_id"], b["site_id"], b["lot_id"])))
    params = [batches[g][r][c] if g >= 0 else c for g, r, c in found.sources]
    return found.sql, [p(v) if p is not None and v is not None else v for p, v in zip(found.processors, params,
                                                                                       strict=True)]


_urls: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _url_of(engine: Engine) -> str:
    """The engine's URL as text (number_blocks keys its blocks by it), rendered once per engine."""
    url = _urls.get(engine)
    if url is None:
        url = _urls[engine] = engine.url.render_as_string(hide_password=False)
    return url


@dataclass(frozen=True)
class Mark:
    """A point in a writer's queue (:meth:`PostingWriter.mark`)."""

    #: Rows queued per (table, columns) group.
    rows: Mapping[tuple[str, tuple[str, ...]], int]
    balances: int
    taken: int
    writes: int


@dataclass(frozen=True)
class Read:
    """A SELECT for :meth:`PostingWriter.fetch`: built once (with bindparams), run with ``params``."""

    key: str
    build: Callable[[], Any]
    params: Mapping[str, Any]
    #: Bind parameter name → SQL type (for its bind processor).
    types: Mapping[str, Any]
    #: Always exactly one row (the id allocation): models.unit_of_work.begin may add a column to it.
    one_row: bool = False


class PostingWriter:
    """Rows of the current transaction, waiting to be sent together (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[tuple[str, tuple[str, ...]], tuple[Table, list[dict[str, Any]]]] = {}
        self._balances: list[dict[str, Any]] = []
        #: Numbers from this process's blocks used by the current transaction (PostgreSQL): given
        #: back if it rolls back.
        self._taken: list[tuple[number_blocks.Key, str, int]] = []
        self.statements = 0  # sent so far in this transaction (the bench prints it)
        #: Writes that reached the database (sends, SQLite's counter bumps): a mark taken before them
        #: can no longer undo what followed it (see :meth:`undo_to`).
        self.writes = 0
        self._connection: tuple[Any, Dialect] | None = None
        self._url: str | None = None
        #: The session's database (it never changes bind): asked per row, cheaper kept than looked up.
        self._dialect_name: str | None = None

    # -- collecting -------------------------------------------------------------------------
    def insert(self, table: Table, **values: Any) -> dict[str, Any]:
        """Queue one row of ``table`` (Python-side column defaults filled in now)."""
        row = _with_defaults(table, values)
        if "id" not in row and table.name in id_blocks.INT_REPLICATED and self.dialect_name != "postgresql":
            conn = self.session.connection()
            if id_blocks.needed(conn, table.name):  # SQLite: the id comes from this node's block
                row["id"] = id_blocks.next_id(conn, table.name)
        key = (table.name, tuple(row))
        self._rows.setdefault(key, (table, []))[1].append(row)
        return row

    def bump_balance(self, org_id: int, item_id: int, site_id: int, lot_id: int, quantity: Decimal,
                     value: Decimal, *, reserved: Decimal = Decimal(0)) -> None:
        """Queue a change of one (item, site, lot) balance, created at zero if new."""
        self._balances.append({"org_id": org_id, "item_id": item_id, "site_id": site_id, "lot_id": lot_id,
                               "on_hand": quantity, "reserved": reserved, "value": value})

    @property
    def dialect_name(self) -> str:
        name = self._dialect_name
        if name is None:
            name = self._dialect_name = self.session.get_bind().dialect.name
        return name

    @property
    def pending(self) -> bool:
        return bool(self._rows or self._balances)

    # -- the connection ---------------------------------------------------------------------
    def _dbapi(self) -> tuple[Any, Dialect]:
        # Kept for the transaction (models.unit_of_work forgets it when the transaction ends): in a
        # batch session, asking the session for its connection costs more than a small statement.
        if self._connection is None:
            conn = self.session.connection()
            self._connection = (conn.connection.dbapi_connection, conn.dialect)
            self._url = _url_of(conn.engine)
        return self._connection

    def forget_connection(self) -> None:
        """The transaction ended: the next send asks the session for its connection again."""
        self._connection = None
        self._url = None

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

    # -- numbers and ids -------------------------------------------------------------------
    def ids_read(self, tables: Sequence[Table]) -> Read:
        """A read that allocates one new id per table (to run with the operation's first reads).

        PostgreSQL: ``nextval`` (no lock; an unused id is a gap). SQLite: the next id of this
        node's block (models.id_blocks), under the transaction's write lock.
        """
        names = tuple(t.name for t in tables)
        if self.dialect_name != "postgresql":
            # SQLite: from this node's id block (models.id_blocks), handed back by a trivial SELECT.
            conn = self.session.connection()
            params = {f"i{k}": id_blocks.next_id(conn, n) for k, n in enumerate(names)}
            return Read(f"ids:{','.join(names)}",
                        lambda: select(*[bindparam(p, type_=BigInteger()) for p in params]),
                        params, {p: BigInteger() for p in params})

        def build() -> Any:  # compiled once per tables and dialect (see _compile)
            return select(*[func.nextval(f"{n}_id_seq") for n in names])

        return Read(f"ids:{','.join(names)}", build, {}, {}, one_row=True)

    def numbers(self, org_id: int, wanted: Sequence[tuple[str, str, int]]) -> list[str]:
        """The next number of each (series, period), as text zero-padded to its width.

        PostgreSQL: from this process's blocks (models.number_blocks), no statement in this
        transaction. SQLite: all bumped now, in one statement, under the transaction's write lock.
        """
        if self.dialect_name == "postgresql":
            return [f"{self._take(org_id, series, period):0{width}d}" for series, period, width in wanted]
        raw, dialect = self._dbapi()
        keys = sorted({(series, period) for series, period, _w in wanted})
        with self._pipeline(raw, dialect):
            cur = self._send_numbers(raw, dialect, org_id, keys)
        got = {(r[0], r[1]): int(r[2]) for r in cur.fetchall()}
        return [f"{got[(series, period)]:0{width}d}" for series, period, width in wanted]

    def allocate_now(self, org_id: int, series: str, period: str) -> int:
        """The next number of one counter (the ORM operations' numbering, models.numbering)."""
        if self.dialect_name == "postgresql":
            return self._take(org_id, series, period)
        raw, dialect = self._dbapi()
        with self._pipeline(raw, dialect):
            cur = self._send_numbers(raw, dialect, org_id, [(series, period)])
        return int(cur.fetchone()[2])

    def _take(self, org_id: int, series: str, period: str) -> int:
        # Inside the session's transaction (begun here if need be), whose end gives it back or spends it.
        self._dbapi()
        url = self._url
        assert url is not None
        epoch = self._epoch(series)
        number = number_blocks.take(url, org_id, series, period, epoch)
        self._taken.append(((url, org_id, series, period), epoch, number))
        return number

    def _epoch(self, series: str) -> str:
        """Voucher numbers: the config version of this transaction's snapshot (number_blocks.take)."""
        if series != node.voucher_series():
            return ""
        for key in ("unit_of_work", "catalog"):
            found = self.session.info.get(key)
            version = getattr(getattr(found, "catalog", found), "version", None)
            if isinstance(version, str):
                return version
        return ""

    def transaction_committed(self) -> None:
        """The numbers this transaction used are spent."""
        self._taken.clear()

    def transaction_ended(self) -> None:
        """The outer transaction ended without committing its numbers: hand them out again."""
        taken, self._taken = self._taken, []
        if taken:
            number_blocks.give_back(taken)

    def _send_numbers(self, raw: Any, dialect: Dialect, org_id: int, wanted: list[tuple[str, str]]) -> Any:
        """Bump each (series, period) counter of the org (created at 1), in one statement, in a fixed
        order (so two postings never take two counters in opposite orders); RETURNING the values."""
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
        self.writes += 1
        return cur

    # -- sending ----------------------------------------------------------------------------
    def flush(self, *, commit: bool = False) -> None:
        """Flush the ORM's pending rows (those may be referred to), then send the queued ones
        (with the transaction's COMMIT in the same round trip when ``commit``)."""
        self.session.flush()
        self.send(commit=commit)

    def send(self, *, commit: bool = False) -> None:
        """Send every queued row and balance change now, in one pipeline. ``commit`` (PostgreSQL):
        end the transaction in the same round trip; SQLAlchemy's own COMMIT then finds nothing to do."""
        if not self.pending:
            return
        raw, dialect = self._dbapi()
        rows, self._rows = self._rows, {}
        balances, self._balances = self._balances, []
        if any(name == _events.name for name, _columns in rows):
            self.session.info[OUTBOX_WRITTEN] = True
        one = _one_statement(rows, balances) if dialect.name == "postgresql" else None
        self.writes += 1
        with self._pipeline(raw, dialect):
            if one is not None:
                cur = psycopg.RawCursor(raw)
                cur.execute(*one)
                self.statements += 1
            else:
                cur = raw.cursor()
                for (_name, columns), (table, batch) in rows.items():
                    self._send_rows(cur, dialect, table, columns, batch)
                if balances:
                    self._send_balances(raw, dialect, balances)
            if commit and dialect.name == "postgresql":
                cur.execute("COMMIT")
        self._forget_balances(balances)

    def _send_rows(self, cur: Any, dialect: Dialect, table: Table, columns: tuple[str, ...],
                   batch: list[dict[str, Any]]) -> None:
        """One executemany per table."""
        compiled = _compile(("insert", table.name, columns, dialect.name), dialect, table.insert,
                            _column_types(table, columns), insert_columns=True)
        cur.executemany(compiled.sql, [_params(compiled, r) for r in batch])
        self.statements += 1

    def fetch(self, reads: Sequence[Read]) -> list[list[tuple[Any, ...]]]:
        """Run SELECTs together (one round trip on PostgreSQL; the transaction's BEGIN rides along)."""
        raw, dialect = self._dbapi()
        cursors = []
        compiled_reads = []
        with self._pipeline(raw, dialect):
            for read in reads:
                compiled = _compile(("select", read.key, dialect.name), dialect, read.build, read.types)
                if compiled.raw_sql is not None:
                    cur = psycopg.RawCursor(raw)
                    cur.execute(compiled.raw_sql, _raw_params(compiled, read.params))
                else:
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

    def mark(self) -> Mark:
        """Where the queue stands now, for :meth:`undo_to` (an operation's start)."""
        return Mark({key: len(batch) for key, (_t, batch) in self._rows.items()}, len(self._balances),
                    len(self._taken), self.writes)

    def undo_to(self, mark: Mark) -> bool:
        """Drop what was queued since ``mark`` and hand back the numbers taken since (an operation
        that failed among others in one transaction). False when something was written since the
        mark: then only rolling back the transaction undoes it, and the numbers (which rows already
        sent may carry) stay with the transaction until it ends."""
        for key in [k for k in self._rows if k not in mark.rows]:
            del self._rows[key]
        for key, count in mark.rows.items():
            found = self._rows.get(key)
            if found is not None:
                del found[1][count:]
                if not found[1]:
                    del self._rows[key]
        del self._balances[mark.balances:]
        if self.writes != mark.writes:
            return False
        taken, self._taken = self._taken[mark.taken:], self._taken[:mark.taken]
        if taken:
            number_blocks.give_back(taken)
        return True

    def _send_balances(self, raw: Any, dialect: Dialect, balances: list[dict[str, Any]]) -> None:
        cols = _BALANCE_COLUMNS

        def build() -> Any:
            return _balance_upsert([{c: bindparam(c) for c in cols}], dialect.name)

        compiled = _compile(("balance", dialect.name), dialect, build, {c: _balances.c[c].type for c in cols})
        # One statement for all of them, in the (item, site, lot) order every posting locks in.
        ordered = sorted(balances, key=lambda b: (b["item_id"], b["site_id"], b["lot_id"]))
        raw.cursor().executemany(compiled.sql, [_params(compiled, change) for change in ordered])
        self.statements += 1

    def _forget_balances(self, balances: list[dict[str, Any]]) -> None:
        """Expire Balance objects this session holds for the changed rows (they were written behind the ORM)."""
        if not balances:
            return
        keys = {(b["item_id"], b["site_id"], b["lot_id"]) for b in balances}
        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, Balance) and (obj.item_id, obj.site_id, obj.lot_id) in keys:
                self.session.expire(obj)


#: ``session.info`` key: the operation ``models.uow.run`` calls as the whole transaction (its rows
#: may wait for the commit).
COMMIT_FOLLOWS = "posting_commit_follows"


def writer_for(session: Session) -> PostingWriter:
    """The session's posting writer (one per session; created on first use)."""
    writer = session.info.get("posting_writer")
    if writer is None:
        writer = session.info["posting_writer"] = PostingWriter(session)
    return writer
