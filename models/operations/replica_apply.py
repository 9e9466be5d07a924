"""Writing replicated rows into this database: upserts by global id, moves once, balances kept.

Used on both sides: headquarters applies what a node sends up (models.operations.node_exchange), a
node applies what headquarters sends down (models.operations.node_replica). A row already here is
updated to the sender's state (a document's status moves on), except the ledger: a stock move or an
outbox event is written once and never changed, and only a move written now changes a balance. So
applying a batch twice changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.base import utcnow
from models.errors import ValidationError
from models.replication import decode_row, key_column, table
from models.stock import Balance

#: Written once, never updated (the ledger, and events already handled where they were made).
INSERT_ONLY = frozenset({"stock_moves", "outbox_events", "audit_log"})


def decode_batch(rows: Mapping[str, Any], allowed: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The wire's {table: [row, …]} as column values, for the allowed tables only; anything else is a
    ValidationError (a malformed batch changes nothing)."""
    if not isinstance(rows, Mapping):
        raise ValidationError("同步批次的格式不对", field="rows")
    allowed = tuple(allowed)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, items in rows.items():
        if name not in allowed or not isinstance(items, list):
            raise ValidationError(f"同步批次里有不认识的表：{str(name)[:32]}", field="rows")
        try:
            out[name] = [decode_row(name, r) for r in items if isinstance(r, Mapping)]
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            raise ValidationError(f"同步批次里 {name} 的一行无法识别：{type(exc).__name__}", field="rows") from None
        if len(out[name]) != len(items):
            raise ValidationError(f"同步批次里 {name} 的一行不是对象", field="rows")
    return {name: out[name] for name in allowed if name in out}


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def upsert(session: Session, name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write ``rows`` of table ``name``; returns the rows that were new here."""
    if not rows:
        return []
    t = table(name)
    key = key_column(name)
    rows = sorted(rows, key=lambda r: r[key])  # a reversal's id follows the row it reverses
    keys = [r[key] for r in rows]
    existing: set[Any] = set()
    for start in range(0, len(keys), 500):
        existing.update(session.scalars(select(t.c[key]).where(t.c[key].in_(keys[start:start + 500]))))
    new = [r for r in rows if r[key] not in existing]
    insert = _insert(session)
    if name in INSERT_ONLY:
        if new:
            session.execute(insert(t), new)
        return new
    for group in _same_columns(rows):
        stmt = insert(t)
        columns = [c for c in group[0] if c != key]
        stmt = stmt.on_conflict_do_update(index_elements=[key], set_={c: stmt.excluded[c] for c in columns})
        session.execute(stmt, group)
    return new


def _same_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r)].append(r)
    return list(groups.values())


def bump_balances(session: Session, moves: list[dict[str, Any]]) -> None:
    """Add newly written moves to their (item, site, lot) balances, created at zero if new."""
    totals: dict[tuple[int, int, int, int], list[Decimal]] = {}
    for m in moves:
        k = (m["org_id"], m["item_id"], m["site_id"], m["lot_id"])
        acc = totals.setdefault(k, [Decimal(0), Decimal(0)])
        acc[0] += Decimal(m["quantity"])
        acc[1] += Decimal(m["value"])
    if not totals:
        return
    t = Balance.__table__
    insert = _insert(session)
    for (org_id, item_id, site_id, lot_id), (qty, value) in sorted(totals.items(), key=lambda kv: kv[0][1:]):
        stmt = insert(t).values(org_id=org_id, item_id=item_id, site_id=site_id, lot_id=lot_id, on_hand=qty,
                                reserved=Decimal(0), value=value)
        stmt = stmt.on_conflict_do_update(index_elements=["item_id", "site_id", "lot_id"],
                                          set_={"on_hand": t.c.on_hand + stmt.excluded.on_hand,
                                                "value": t.c.value + stmt.excluded.value})
        session.execute(stmt)


def mark_dispatched(rows: list[dict[str, Any]]) -> None:
    """Events handled where they were made: the receiving side's relay must not run them again."""
    now = utcnow()
    for r in rows:
        if r.get("dispatched_at") is None:
            r["dispatched_at"] = now
