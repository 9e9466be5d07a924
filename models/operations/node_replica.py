"""An edge node's side of an exchange: what it sends up, and applying headquarters' answer.

The node's up stream is its change log (models.nodes.SyncLog, filled by SQLite triggers): a batch
is the next entries after what headquarters acknowledged, with the current state of each row they
name. Headquarters answers its cursor; entries at or below it are deleted here, the rest are sent
again next time. Down rows are applied under the sync_applying flag, so they are not logged back up.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from models import node
from models.base import utcnow
from models.errors import ValidationError
from models.nodes import NodeState, SyncApplying, SyncLog
from models.operations.replica_apply import bump_balances, decode_batch, upsert
from models.replication import (
    DOWN_MOVE_TABLES,
    DOWN_OVERLAP,
    DOWN_TABLES,
    UP_TABLES,
    encode_row,
    install_capture,
    key_column,
    table,
)

#: Change-log entries per batch: about 150 KB of JSON for receipts, a few seconds on a weak uplink.
BATCH = 500


def _state(session: Session, code: str) -> NodeState:
    state = session.scalar(select(NodeState).where(NodeState.node_code == code))
    if state is None:
        state = NodeState(node_code=code, last_error="", up_acked=0, down_cursor={})
        session.add(state)
    if state.epoch is None:
        state.epoch = secrets.token_hex(16)
    session.flush()
    return state


def identity(session: Session) -> dict[str, Any]:
    """What tells headquarters which database this is and what it last acknowledged."""
    state = _state(session, node.current())
    return {"epoch": state.epoch, "acked": state.up_acked or 0}


def up_batch(session: Session, limit: int = BATCH) -> dict[str, Any] | None:
    """The next batch of this node's changes (entries and rows), or None when all are acknowledged."""
    entries = session.execute(select(SyncLog.seq, SyncLog.tbl, SyncLog.row_key)
                              .order_by(SyncLog.seq).limit(limit)).all()
    if not entries:
        return None
    keys: dict[str, set[str]] = {}
    for _seq, name, key in entries:
        keys.setdefault(name, set()).add(key)
    rows: dict[str, list[dict[str, Any]]] = {}
    for name in UP_TABLES:
        if name not in keys:
            continue
        t = table(name)
        col = t.c[key_column(name)]
        wanted = sorted(keys[name])
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            # The log holds keys as text: integers as digits, UUIDs as 32 hex digits.
            uuid_keys = name in ("stock_moves", "outbox_events")
            values: list[Any] = [uuid.UUID(hex=k) for k in chunk] if uuid_keys else [int(k) for k in chunk]
            found.extend(encode_row(r) for r in session.execute(select(t).where(col.in_(values))).mappings())
        rows[name] = found
    return {"entries": [[s, n, k] for s, n, k in entries], "rows": rows}


def backlog(session: Session) -> tuple[int, datetime | None]:
    """How many changes are not yet acknowledged by headquarters, and when the oldest was recorded
    (approximately: the log keeps no time; the state's last successful sync stands in for it)."""
    count = session.scalar(select(func.count()).select_from(SyncLog)) or 0
    if not count:
        return 0, None
    state = session.scalar(select(NodeState).where(NodeState.node_code == node.current()))
    return int(count), (state.last_synced_at if state and state.last_synced_at else utcnow())


def down_request(session: Session) -> dict[str, Any]:
    """The down cursors this node sends: its master-data hashes and the last moves time it has."""
    state = _state(session, node.current())
    cursor = dict(state.down_cursor or {})
    after = cursor.get("moves_after")
    window_count = None
    if isinstance(after, str):  # how many of headquarters' moves this node holds just before its cursor
        until = datetime.fromisoformat(after)
        moves = table("stock_moves")
        window_count = session.scalar(select(func.count()).select_from(moves).where(
            moves.c.origin_node != node.current(), moves.c.recorded_at > until - DOWN_OVERLAP,
            moves.c.recorded_at <= until)) or 0
    return {"tables": cursor.get("tables", {}), "moves_after": after, "moves_after_id": cursor.get("moves_after_id"),
            "window_count": window_count}


def apply_answer(session: Session, answer: dict[str, Any]) -> dict[str, int]:
    """Apply headquarters' answer: the block, the up acknowledgement and the down rows (one transaction)."""
    code = node.current()
    state = _state(session, code)
    block = answer.get("block")
    if not isinstance(block, int) or block < 1:
        raise ValidationError("总部的回答缺少节点号段", field="block")
    if state.id_block not in (None, block):
        raise ValidationError("总部给的节点号段与本机记录的不同：本机数据库不属于这个节点", field="block")
    state.id_block = block
    node.set_block(block)
    install_capture(session.connection())
    acked = answer.get("up_seq")
    if isinstance(acked, int) and acked >= 0:
        state.up_acked = acked
        session.execute(delete(SyncLog).where(SyncLog.seq <= acked))
    down = answer.get("down") or {}
    tables = down.get("tables") or {}
    moves = down.get("moves") or {}
    session.execute(insert(SyncApplying).values(id=1))
    written = 0
    cursor = dict(state.down_cursor or {})
    hashes = dict(cursor.get("tables", {}))
    batch = decode_batch({n: v.get("rows", []) for n, v in tables.items()}, DOWN_TABLES)
    for name in DOWN_TABLES:
        if name in batch:
            upsert(session, name, batch[name])
            written += len(batch[name])
            hashes[name] = tables[name].get("hash")
    move_rows = decode_batch(moves.get("rows") or {}, DOWN_MOVE_TABLES)
    new_moves: list[dict[str, Any]] = []
    for name in DOWN_MOVE_TABLES:
        new = upsert(session, name, move_rows.get(name, []))
        written += len(new)  # the overlap re-sends rows already here: only new ones count
        if name == "stock_moves":
            new_moves = new
    bump_balances(session, new_moves)
    session.execute(delete(SyncApplying))
    cursor["tables"] = hashes
    until = moves.get("until")
    if isinstance(until, dict) and isinstance(until.get("moves_after"), str):
        cursor["moves_after"], cursor["moves_after_id"] = until["moves_after"], until.get("moves_after_id")
    state.down_cursor = cursor
    session.flush()
    return {"down_rows": written, "down_more": int(bool(moves.get("more")))}

