"""Headquarters' side of one sync exchange with an edge node: apply its changes, answer what it lacks.

``POST /api/v1/nodes/sync`` carries, signed (models.operations.node_auth):

    {"node": CODE, "version": "1",
     "up": {"entries": [[seq, table, key], …], "rows": {table: [row, …]}} or null,
     "pending": unsent changes after this batch, "pending_since": oldest unsent change's time or null,
     "down": {"tables": {table: hash}, "moves_after": time or null, "moves_after_id": hex or null,
              "window_count": the node's foreign moves recorded in the DOWN_OVERLAP before moves_after}}

Up: the entries are the node's change-log sequence numbers, consecutive. Headquarters keeps, per
node, the last one it applied (``nodes.up_seq``): entries at or below it are skipped (a batch sent
again changes nothing); a batch that does not start right after it is refused whole and answered
with the cursor, so the node resends from there — nothing is lost in a gap. The rows are applied in
one transaction with the cursor: a node killed mid-sync, or an answer lost on the way back, leaves
headquarters either with all of the batch and the new cursor or with neither.

Rules a node cannot break by sending rows: every row is of its organisation; a row it creates has
an id in its own block; a move or a document is at one of its sites. A stock move that leaves its
balance below zero here, or ships from a lot failed or frozen here, is applied anyway (the goods
did move) and recorded as a conflict with both sides' facts and a to-do for a manager with the
compensating document proposed (models.nodes.SyncConflict). So is a receipt line priced at a grade's
old price when headquarters changed it after the node's previous contact (``stale_price``).

Down: the master-data tables whose content hash differs from the node's, whole; and the moves at
the node's sites that the node did not make, after its keyset cursor (recorded_at, id); the window of
DOWN_OVERLAP before the cursor is sent again only when the node holds fewer of its moves than headquarters
(a PostgreSQL transaction may commit after a later one; the node's apply skips what it has).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from models import node as node_mod
from models.actor import Actor
from models.base import utcnow
from models.errors import NodeRebuilt, ValidationError
from models.infra import AuditEntry
from models.nodes import Node, NodeSite, SyncConflict
from models.operations.node_auth import SignedRequest, read_body, verify_node_request
from models.operations.nodes import RecordNodeContact, record_node_contact
from models.operations.replica_apply import bump_balances, decode_batch, mark_dispatched, upsert
from models.operations.todos import CreateTodo, create_todo
from models.outbox import emit
from models.replication import (
    DOWN_MOVE_TABLES,
    DOWN_OVERLAP,
    DOWN_TABLES,
    UP_TABLES,
    content_hash,
    encode_row,
    row_key,
    table,
)
from models.stock import Balance, Freeze, Lot, QcStatus

#: Moves sent down per exchange; the node asks again while "more" is true.
DOWN_MOVES = 2000
#: Moves of the overlap window sent again when the node is missing some of them.
WINDOW_MOVES = 20000
#: Entries accepted per exchange (the node sends 500).
MAX_ENTRIES = 5000
#: Tables whose rows carry a site a node must serve.
_SITE_COLUMN = {"documents": "site_id", "stock_moves": "site_id", "freezes": "site_id"}


@dataclass(frozen=True)
class NodeExchange:
    request: SignedRequest
    content_encoding: str = ""


def _entries(up: dict[str, Any]) -> list[tuple[int, str, str]]:
    raw = up.get("entries")
    if not isinstance(raw, list) or len(raw) > MAX_ENTRIES:
        raise ValidationError("同步批次的条目格式不对", field="up.entries")
    out = []
    for e in raw:
        if not (isinstance(e, list) and len(e) == 3 and isinstance(e[0], int) and e[1] in UP_TABLES
                and isinstance(e[2], str) and len(e[2]) <= 40):
            raise ValidationError("同步批次的条目格式不对", field="up.entries")
        out.append((e[0], e[1], e[2]))
    seqs = [e[0] for e in out]
    if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        raise ValidationError("同步批次的序号不连续", field="up.entries")
    return out


def _check_rows(session: Session, node: Node, sites: set[int], batch: dict[str, list[dict[str, Any]]]) -> None:
    """Refuse (whole) a batch with a row the node may not write (see the module docstring)."""
    low, high = node.id * node_mod.BLOCK, (node.id + 1) * node_mod.BLOCK
    for name, rows in batch.items():
        key = next(iter(table(name).primary_key.columns)).name
        site_col = _SITE_COLUMN.get(name)
        for r in rows:
            if r.get("org_id") != node.org_id:
                raise ValidationError("同步批次里有别的组织的数据", field="rows")
            if site_col and r.get(site_col) is not None and r[site_col] not in sites and not (
                    name == "documents" and r.get("to_site_id") in sites):
                raise ValidationError(f"同步批次里有不属于本节点站点的{name}", field="rows")
            if isinstance(r[key], int) and not low <= r[key] < high and name != "documents":
                raise ValidationError(f"同步批次里 {name} 的编号不在本节点的号段内", field="rows")
    # A document outside the block may only be one of headquarters' documents at the node's sites
    # that the node moved on (a transfer it received): it must exist already.
    docs = [r for r in batch.get("documents", []) if not low <= r["id"] < high]
    if docs:
        t = table("documents")
        found: set[int] = set(session.scalars(select(t.c.id).where(t.c.id.in_([r["id"] for r in docs]),
                                                         t.c.org_id == node.org_id)))
        if any(r["id"] not in found for r in docs):
            raise ValidationError("同步批次里有总部没有的单据编号", field="rows")


def _conflicts(session: Session, node: Node, moves: list[dict[str, Any]]) -> int:
    """Record the node's newly applied issues that clash with headquarters' view; returns how many."""
    opened = 0
    for m in moves:
        if m["quantity"] >= 0:
            continue
        balance = session.scalar(select(Balance.on_hand).where(
            Balance.item_id == m["item_id"], Balance.site_id == m["site_id"], Balance.lot_id == m["lot_id"]))
        lot = session.get(Lot, m["lot_id"])
        frozen = session.scalar(select(Freeze.reason).where(
            Freeze.org_id == node.org_id, Freeze.lot_id == m["lot_id"], Freeze.active.is_(True)).limit(1))
        found: list[tuple[str, str, dict[str, Any]]] = []
        if balance is not None and balance < 0:
            found.append(("oversold", "余量不足：节点出库后总部账面为负",
                          {"kind": "adjustment", "site_id": m["site_id"], "lot_id": m["lot_id"],
                           "quantity": str(-balance), "text": f"盘点核实后补差 {-balance}（或从其他站点调拨补足）"}))
        if lot is not None and (lot.qc_status == QcStatus.FAILED or frozen):
            why = "质检不合格" if lot.qc_status == QcStatus.FAILED else f"已冻结（{frozen}）"
            found.append(("lot_blocked", f"批次{why}，节点离线期间仍出库",
                          {"kind": "recall", "lot_id": m["lot_id"], "quantity": str(-m["quantity"]),
                           "text": f"召回批次 {lot.code} 已出库的 {-m['quantity']}"}))
        for rule, title, proposal in found:
            facts = {"node": {"code": node.code, "move_id": m["id"].hex, "quantity": str(m["quantity"]),
                              "document_id": m["document_id"], "business_time": m["business_time"].isoformat()},
                     "headquarters": {"on_hand_after": str(balance if balance is not None else Decimal(0)),
                                      "qc_status": lot.qc_status.value if lot else None, "freeze": frozen},
                     "proposal": proposal}
            opened += _open(session, node, rule, m["id"].hex, title, facts, m["document_id"], m["lot_id"])
    return opened


def _open(session: Session, node: Node, rule: str, key: str, title: str, facts: dict[str, Any],
          document_id: int | None, lot_id: int | None) -> int:
    """Record one conflict with its to-do (for the manager, the director after a day) and notify;
    0 when it was recorded before (the batch came again)."""
    if session.scalar(select(SyncConflict.id).where(SyncConflict.node_id == node.id, SyncConflict.rule == rule,
                                                    SyncConflict.row_key == key)) is not None:
        return 0
    todo = create_todo(session, node.org_id, CreateTodo(
        title=f"站点节点 {node.code} 同步冲突：{title}"[:128], due_in_hours=24, assignee_role="manager",
        body=facts["proposal"]["text"], kind="node_conflict", document_id=document_id, lot_id=lot_id,
        chain=({"after_hours": 24, "role": "director"},)))
    session.add(SyncConflict(org_id=node.org_id, node_id=node.id, rule=rule, row_key=key, facts=facts,
                             todo_id=todo.id))
    emit(session, node.org_id, "node.conflict", {"node": node.code, "rule": rule, "row": key, "todo_id": todo.id},
         document_id=document_id)
    return 1


def _stale_prices(session: Session, node: Node, lines: list[dict[str, Any]]) -> int:
    """A receipt line priced at a grade's old price though headquarters had changed it before the node
    made the receipt (the node was away and could not know): the farmer is owed, or owes, the difference."""
    opened = 0
    docs = table("documents")
    for line in lines:
        if line.get("grade_id") is None:
            continue
        made = session.scalar(select(docs.c.created_at).where(docs.c.id == line["document_id"]))
        if made is None:
            continue
        change = session.scalars(select(AuditEntry).where(
            AuditEntry.org_id == node.org_id, AuditEntry.action == "grade.price_changed", AuditEntry.entity == "grade",
            AuditEntry.entity_id == str(line["grade_id"]), AuditEntry.created_at < made)
            .order_by(AuditEntry.created_at.desc()).limit(1)).first()
        if change is None or not change.before or not change.after:
            continue
        old = Decimal(str(change.before.get("purchase_price")))
        now_price = Decimal(str(change.after.get("purchase_price")))
        if line["unit_price"] != old or old == now_price:
            continue
        difference = ((now_price - old) * line["quantity"]).quantize(Decimal("0.01"))
        facts = {"node": {"code": node.code, "document_id": line["document_id"], "unit_price": str(old),
                          "quantity": str(line["quantity"])},
                 "headquarters": {"unit_price": str(now_price), "changed_at": change.created_at.isoformat(),
                                  "changed_by": change.actor_id},
                 "proposal": {"kind": "adjustment", "document_id": line["document_id"], "amount": str(difference),
                              "text": f"按新价 {now_price} 元结算：与交货人{'补付' if difference > 0 else '扣回'}差价 "
                                      f"{abs(difference)} 元"}}
        opened += _open(session, node, "stale_price", f"L{line['id']}", "离线期间收购价已调整，节点按旧价收货",
                        facts, line["document_id"], line.get("lot_id"))
    return opened


def apply_up(session: Session, node: Node, sites: set[int], up: dict[str, Any]) -> tuple[int, int]:
    """Apply a node's batch (see the module docstring); returns (rows written, conflicts opened)."""
    entries = _entries(up)
    if not entries:
        return 0, 0
    first, last = entries[0][0], entries[-1][0]
    if last <= node.up_seq:
        return 0, 0  # all applied before: the answer carrying the cursor was lost
    if first > node.up_seq + 1:
        return 0, 0  # a gap: refused whole; the cursor in the answer says where to resend from
    wanted = {(t, k) for s, t, k in entries if s > node.up_seq}
    batch = decode_batch(up.get("rows") or {}, UP_TABLES)
    keep: dict[str, list[dict[str, Any]]] = {}
    for name, rows in batch.items():
        key = next(iter(table(name).primary_key.columns)).name
        keep[name] = [r for r in rows if (name, row_key(r[key])) in wanted]
    _check_rows(session, node, sites, keep)
    written = 0
    new: dict[str, list[dict[str, Any]]] = {}
    for name in UP_TABLES:
        rows = keep.get(name, [])
        if name == "outbox_events":
            mark_dispatched(rows)
        new[name] = upsert(session, name, rows)
        written += len(rows)
    bump_balances(session, new["stock_moves"])
    session.flush()
    opened = _conflicts(session, node, new["stock_moves"])
    opened += _stale_prices(session, node, new["document_lines"])
    node.up_seq = last
    node.rows_up = (node.rows_up or 0) + written
    return written, opened


def _down_tables(session: Session, node: Node, hashes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in DOWN_TABLES:
        t = table(name)
        where = t.c.id == node.org_id if name == "orgs" else t.c.org_id == node.org_id
        key = next(iter(t.primary_key.columns))
        rows = [encode_row(r) for r in session.execute(select(t).where(where).order_by(key)).mappings()]
        digest = content_hash(rows)
        if hashes.get(name) != digest:
            out[name] = {"hash": digest, "rows": rows}
    return out


def _cursor(down: dict[str, Any]) -> tuple[datetime | None, uuid.UUID | None, int | None]:
    """The node's down cursor: the last move it has (recorded_at, id) and how many foreign moves it
    holds in the overlap window before it."""
    after, after_id, count = down.get("moves_after"), down.get("moves_after_id"), down.get("window_count")
    if after is None:
        return None, None, None
    try:
        when = datetime.fromisoformat(after) if isinstance(after, str) else None
        key = uuid.UUID(hex=after_id) if isinstance(after_id, str) else None
    except ValueError:
        raise ValidationError("下行游标无法识别", field="down.moves_after") from None
    if when is None or when.tzinfo is None:
        raise ValidationError("下行游标无法识别", field="down.moves_after")
    return when, key, count if isinstance(count, int) and count >= 0 else None


def _down_moves(session: Session, node: Node, sites: set[int], down: dict[str, Any]) -> dict[str, Any]:
    """The moves at the node's sites it did not make, after its cursor (keyset on recorded_at, id: a
    busy minute cannot stall it), and the overlap window before the cursor again only when the node
    holds fewer of its moves than headquarters does (moves are insert-only, so equal counts mean equal
    sets): a PostgreSQL transaction that committed after a later one is caught there."""
    moves = table("stock_moves")
    theirs = (moves.c.org_id == node.org_id, moves.c.site_id.in_(sites), moves.c.origin_node != node.code)
    after, after_id, window_count = _cursor(down)
    q = select(moves).where(*theirs)
    rows: list[Any] = []
    if after is not None:
        window = (moves.c.recorded_at > after - DOWN_OVERLAP, moves.c.recorded_at <= after)
        held = session.scalar(select(func.count()).select_from(moves).where(*theirs, *window)) or 0
        if window_count is None or window_count < held:
            rows.extend(session.execute(select(moves).where(*theirs, *window)
                                        .order_by(moves.c.recorded_at, moves.c.id).limit(WINDOW_MOVES)).mappings())
        key = after_id or uuid.UUID(int=0)
        q = q.where(tuple_(moves.c.recorded_at, moves.c.id) > tuple_(after, key))
    fresh = list(session.execute(q.order_by(moves.c.recorded_at, moves.c.id).limit(DOWN_MOVES + 1)).mappings())
    more = len(fresh) > DOWN_MOVES
    fresh = fresh[:DOWN_MOVES]
    rows.extend(fresh)
    last = fresh[-1] if fresh else None
    until = {"moves_after": last["recorded_at"].isoformat(), "moves_after_id": last["id"].hex} if last else None
    if not rows:
        return {"rows": {}, "until": until, "more": False}
    doc_ids = sorted({r["document_id"] for r in rows})
    lot_ids = sorted({r["lot_id"] for r in rows})
    out: dict[str, list[dict[str, Any]]] = {}
    for name in DOWN_MOVE_TABLES:
        t = table(name)
        if name == "stock_moves":
            picked = rows
        elif name == "lots":
            picked = list(session.execute(select(t).where(t.c.id.in_(lot_ids))).mappings())
        elif name == "documents":
            picked = list(session.execute(select(t).where(t.c.id.in_(doc_ids))).mappings())
        else:
            picked = list(session.execute(select(t).where(t.c.document_id.in_(doc_ids))).mappings())
        out[name] = [encode_row(r) for r in picked]
    return {"rows": out, "until": until, "more": more}


def _same_database(node: Node, data: dict[str, Any]) -> None:
    """Adopt the node database's epoch at its first exchange (or the first after a key rotation),
    taking its own acknowledged sequence as the cursor; refuse another epoch later (NODE_REBUILT): a
    rebuilt database numbers its changes from 1 again, and they would be skipped as already applied."""
    epoch, acked = data.get("epoch"), data.get("acked")
    if not isinstance(epoch, str) or not 8 <= len(epoch) <= 32:
        return  # a node of before epochs: nothing to compare
    if node.epoch is None:
        node.epoch = epoch
        if isinstance(acked, int) and 0 <= acked < 2**62:
            node.up_seq = acked
    elif node.epoch != epoch:
        raise NodeRebuilt()


def node_exchange(session: Session, exchange: NodeExchange) -> dict[str, Any]:
    """Verify, apply the node's batch, record its contact and backlog, and answer (module docstring)."""
    node = verify_node_request(session, exchange.request)
    data = read_body(exchange.request, exchange.content_encoding, node)
    sites = set(session.scalars(select(NodeSite.site_id).where(NodeSite.node_id == node.id)))
    now = utcnow()
    written = opened = 0
    _same_database(node, data)
    up = data.get("up")
    if isinstance(up, dict):
        written, opened = apply_up(session, node, sites, up)
    pending = data.get("pending")
    node.pending_up = pending if isinstance(pending, int) and 0 <= pending < 2**40 else 0
    since = data.get("pending_since")
    try:
        node.pending_since = datetime.fromisoformat(since) if isinstance(since, str) and node.pending_up else None
    except ValueError:
        node.pending_since = None
    version = data.get("version")
    record_node_contact(session, Actor.system_actor(node.org_id, f"节点 {node.code}"),
                        RecordNodeContact(node.id, exchange.request.ip, str(version)[:32] if version else "", at=now))
    down_raw = data.get("down")
    down: dict[str, Any] = down_raw if isinstance(down_raw, dict) else {}
    hashes_raw = down.get("tables")
    hashes: dict[str, Any] = hashes_raw if isinstance(hashes_raw, dict) else {}
    tables = _down_tables(session, node, hashes)
    moves = _down_moves(session, node, sites, down)
    sent = sum(len(v["rows"]) for v in tables.values()) + sum(len(v) for v in moves["rows"].values())
    node.rows_down = (node.rows_down or 0) + sent
    return {"node": node.code, "block": node.id, "server_time": now.isoformat(), "up_seq": node.up_seq,
            "applied": written, "conflicts": opened, "sites": sorted(sites),
            "down": {"tables": tables, "moves": moves}}
