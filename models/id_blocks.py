"""Global ids for the replicated tables on SQLite: each process allocates inside its node's block.

Documents, lots, vouchers and the other rows a node sends up keep their ids everywhere (issue 14):
no id map, no foreign key to rewrite, and a row applied twice is found by its id. So ids must not
collide: headquarters allocates below ``node.BLOCK``, node k in ``[k*BLOCK, (k+1)*BLOCK)``
(models.node.id_range). PostgreSQL's sequences already ignore rows inserted with explicit ids, so
headquarters on PostgreSQL needs nothing. SQLite's rowid is "largest id + 1", which after a foreign
row lands would be the foreign node's next id: there, every insert into a replicated table takes its
id from here — the largest id *in this block* plus one, counted on per transaction. SQLite's write
lock (BEGIN IMMEDIATE, models.db) makes that safe across processes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Mapper

from models import node

#: Integer-keyed tables whose rows travel between nodes (stock_moves and outbox_events use UUIDs).
INT_REPLICATED = frozenset({"lots", "documents", "document_lines", "vouchers", "voucher_lines",
                            "farmer_settlements", "freezes", "audit_log", "approval_requests"})
_INFO = "id_blocks"


def _block_from_state(conn: Connection) -> None:
    """An edge process started before it knew its block: the node_state row of its last exchange."""
    row = conn.execute(text("SELECT id_block FROM node_state WHERE node_code = :c"), {"c": node.current()}).first()
    if row is not None and row[0]:
        node.set_block(int(row[0]))


def next_id(conn: Connection, table: str) -> int:
    """The next id of ``table`` in this process's block, within the connection's transaction."""
    counters: dict[str, int] = conn.info.setdefault(_INFO, {})
    found = counters.get(table)
    if found is None:
        if node.is_edge() and node.block() is None:
            _block_from_state(conn)
        low, high = node.id_range()
        top = conn.execute(text(f"SELECT max(id) FROM {table} WHERE id >= :lo AND id < :hi"),
                           {"lo": low, "hi": high}).scalar()
        found = (top + 1) if top is not None else low
    if found >= node.id_range()[1]:
        raise OverflowError(f"id block of {table} is full")
    counters[table] = found + 1
    return found


def needed(conn: Connection, table: str) -> bool:
    """Tell whether inserts into ``table`` on this connection take their ids from here."""
    return table in INT_REPLICATED and conn.dialect.name == "sqlite"


def _forget(conn: Connection) -> None:
    conn.info.pop(_INFO, None)


def _before_insert(_mapper: Mapper[Any], conn: Connection, target: Any) -> None:
    table = target.__table__.name
    if getattr(target, "id", None) is None and needed(conn, table):
        target.id = next_id(conn, table)


_installed = False


def install() -> None:
    """Hook the allocator into every ORM insert and forget the counters when a transaction ends."""
    global _installed
    if _installed:
        return
    from models.base import Base

    event.listen(Base, "before_insert", _before_insert, propagate=True)
    for name in ("commit", "rollback"):
        event.listen(Engine, name, _forget)
    _installed = True
