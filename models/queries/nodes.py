"""Edge nodes of an organisation with their sites, last contact and lag; and a node's own sync state.

Lag is the seconds since the node last reached headquarters (None: never) and the rows it still had to
send at that contact (``pending_up``); with rows up/down and the open sync conflicts, these are the
per-node figures of issue 14 §6 (also in event health). ``open_conflicts`` lists the open conflicts
with both sides' facts and the proposed compensating document. Requires Permission.RULES (the same as
event health and devices: node codes and sites of the whole organisation). Never returns a node's
key. Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import node
from models.actor import Actor, Permission
from models.base import utcnow
from models.errors import NotFound
from models.nodes import ConflictStatus, Node, NodeSite, NodeState, SyncConflict
from models.org import DEFAULT_WARN_AFTER_HOURS, Org, Site, SiteKind, SitePolicy
from models.tasks import Todo


@dataclass(frozen=True)
class NodeSiteLine:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class NodeLine:
    id: int
    code: str
    name: str
    active: bool
    sites: tuple[NodeSiteLine, ...]
    created_at: datetime
    last_contact_at: datetime | None
    last_contact_ip: str | None
    last_version: str | None
    #: Seconds since the last contact; None when the node never called.
    lag_seconds: int | None
    rows_up: int
    rows_down: int
    #: Changes the node said, at its last exchange, it still had to send (the lag in rows), and the
    #: time of the oldest of them.
    lag_rows: int = 0
    pending_since: datetime | None = None
    #: Its sync conflicts still open (models.nodes.SyncConflict).
    conflicts_open: int = 0
    org_id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "name": self.name, "active": self.active,
                "sites": [{"id": s.id, "code": s.code, "name": s.name} for s in self.sites],
                "created_at": self.created_at.isoformat(),
                "last_contact_at": self.last_contact_at.isoformat() if self.last_contact_at else None,
                "last_contact_ip": self.last_contact_ip, "last_version": self.last_version,
                "lag_seconds": self.lag_seconds, "lag_rows": self.lag_rows,
                "pending_since": self.pending_since.isoformat() if self.pending_since else None,
                "rows_up": self.rows_up, "rows_down": self.rows_down, "conflicts_open": self.conflicts_open}


def node_lines(session: Session, org_id: int | None, now: datetime | None = None) -> list[NodeLine]:
    """The nodes of one organisation (None: of all, for the operator's metrics) by code, unchecked:
    callers authorise (``list_nodes``, event health)."""
    now = now or utcnow()
    stmt = select(Node).order_by(Node.org_id, Node.code)
    nodes = session.scalars(stmt.where(Node.org_id == org_id) if org_id is not None else stmt).all()
    served: dict[int, list[NodeSiteLine]] = {}
    conflicts: dict[int, int] = {}
    if nodes:
        ids = [n.id for n in nodes]
        for node_id, site_id, code, name in session.execute(
                select(NodeSite.node_id, Site.id, Site.code, Site.name).join(Site, Site.id == NodeSite.site_id)
                .where(NodeSite.node_id.in_(ids)).order_by(Site.code)):
            served.setdefault(node_id, []).append(NodeSiteLine(site_id, code, name))
        conflicts = {int(k): int(v) for k, v in session.execute(
            select(SyncConflict.node_id, func.count()).where(
                SyncConflict.node_id.in_(ids), SyncConflict.status == ConflictStatus.OPEN)
            .group_by(SyncConflict.node_id))}
    return [NodeLine(n.id, n.code, n.name, n.active, tuple(served.get(n.id, ())), n.created_at,
                     n.last_contact_at, n.last_contact_ip, n.last_version,
                     max(0, int((now - n.last_contact_at).total_seconds())) if n.last_contact_at else None,
                     n.rows_up or 0, n.rows_down or 0, lag_rows=n.pending_up or 0, pending_since=n.pending_since,
                     conflicts_open=conflicts.get(n.id, 0), org_id=n.org_id) for n in nodes]


def list_nodes(session: Session, actor: Actor, now: datetime | None = None) -> list[NodeLine]:
    """The organisation's nodes by code, each with its sites, last contact, lag in seconds and rows,
    rows up/down and open conflicts."""
    actor.require(Permission.RULES)
    return node_lines(session, actor.org_id, now)


#: What each conflict rule means, for people.
CONFLICT_RULES = {"oversold": "余量不足（节点出库后总部账面为负）", "lot_blocked": "批次不合格或已冻结仍出库",
                  "stale_price": "节点用了过期的价格"}


@dataclass(frozen=True)
class ConflictLine:
    id: int
    node_code: str
    rule: str
    #: The rule in Chinese (the code itself when unknown).
    rule_text: str
    created_at: datetime
    #: The node's side (its move: quantity, business time, document) and headquarters' (on hand after,
    #: QC status, freeze), as recorded.
    node_facts: dict[str, Any]
    hq_facts: dict[str, Any]
    #: The compensating document proposed, in words.
    proposal: str
    todo_id: int | None
    todo_title: str | None
    todo_status: str | None
    #: The node's business time of the move (from its facts), for display.
    business_time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "node": self.node_code, "rule": self.rule, "rule_text": self.rule_text,
                "created_at": self.created_at.isoformat(), "node_facts": self.node_facts,
                "headquarters_facts": self.hq_facts, "proposal": self.proposal, "todo_id": self.todo_id,
                "todo_title": self.todo_title, "todo_status": self.todo_status}


def open_conflicts(session: Session, actor: Actor, limit: int = 200) -> list[ConflictLine]:
    """The organisation's open sync conflicts, newest first, with both sides' facts, the proposal and
    the to-do a person works them off with. Requires Permission.RULES."""
    actor.require(Permission.RULES)
    rows = session.execute(
        select(SyncConflict, Node.code, Todo.title, Todo.status)
        .join(Node, Node.id == SyncConflict.node_id)
        .outerjoin(Todo, (Todo.id == SyncConflict.todo_id) & (Todo.org_id == SyncConflict.org_id))
        .where(SyncConflict.org_id == actor.org_id, Node.org_id == actor.org_id,
               SyncConflict.status == ConflictStatus.OPEN)
        .order_by(SyncConflict.created_at.desc(), SyncConflict.id.desc()).limit(limit))
    out: list[ConflictLine] = []
    for c, code, title, status in rows:
        facts = c.facts if isinstance(c.facts, dict) else {}
        proposal = facts.get("proposal")
        out.append(ConflictLine(
            c.id, code, c.rule, CONFLICT_RULES.get(c.rule, c.rule), c.created_at,
            dict(facts.get("node") or {}), dict(facts.get("headquarters") or {}),
            str(proposal.get("text", "")) if isinstance(proposal, dict) else "",
            c.todo_id, title, status.value if status is not None else None,
            _moment((facts.get("node") or {}).get("business_time"))))
    return out


def _moment(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def node_site_choices(session: Session, actor: Actor) -> list[NodeSiteLine]:
    """The sites a node may serve: the organisation's own, not in transit (for the register form)."""
    actor.require(Permission.RULES)
    return [NodeSiteLine(s.id, s.code, s.name) for s in session.execute(
        select(Site.id, Site.code, Site.name).where(Site.org_id == actor.org_id, Site.kind != SiteKind.IN_TRANSIT)
        .order_by(Site.code))]


def site_ids_by_code(session: Session, org_id: int, codes: list[str]) -> tuple[int, ...]:
    """The ids of the org's sites with these codes, in order; an unknown code is NotFound (for the CLI)."""
    found = dict(session.execute(select(Site.code, Site.id).where(Site.org_id == org_id, Site.code.in_(codes))).all())
    missing = [c for c in codes if c not in found]
    if missing:
        raise NotFound(f"找不到站点：{'、'.join(missing)}", entity="Site", codes=missing)
    return tuple(found[c] for c in codes)


def org_by_code(session: Session, code: str | None) -> tuple[int, str]:
    """(id, code) of the organisation with ``code``; None: the only organisation (else NotFound)."""
    if code:
        row = session.execute(select(Org.id, Org.code).where(Org.code == code)).first()
    else:
        rows = session.execute(select(Org.id, Org.code).limit(2)).all()
        row = rows[0] if len(rows) == 1 else None
    if row is None:
        raise NotFound("找不到该组织" if code else "数据库里有多个组织（或没有），请用 --org 指定组织编码",
                       entity="Org", code=code)
    return int(row[0]), str(row[1])


def node_state(session: Session, node_code: str) -> NodeState | None:
    """On a node: what its last exchange with headquarters said (None: never synced)."""
    return session.scalar(select(NodeState).where(NodeState.node_code == node_code))


@dataclass(frozen=True)
class NodeSyncStatus:
    """On a node: how long since it last synced with headquarters, and whether that is too long."""

    node_code: str
    last_synced_at: datetime | None
    #: Seconds since the last sync; None: never synced.
    lag_seconds: int | None
    #: "ok", or "warn" once the lag passes the strictest warn_after_hours of the org's sites.
    level: str
    warn_after_hours: int
    #: "上次与总部同步：3 小时前" (Chinese, for the banner).
    text: str
    #: The warning line when level is "warn", else "".
    warning: str

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node_code, "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at
                else None, "lag_seconds": self.lag_seconds, "level": self.level,
                "warn_after_hours": self.warn_after_hours, "text": self.text, "warning": self.warning}


def _ago(seconds: int) -> str:
    if seconds < 60:
        return "不到 1 分钟"
    if seconds < 3600:
        return f"{seconds // 60} 分钟"
    if seconds < 86400:
        return f"{seconds // 3600} 小时"
    return f"{seconds // 86400} 天 {seconds % 86400 // 3600} 小时"


def node_sync_status(session: Session, org_id: int, now: datetime | None = None) -> NodeSyncStatus | None:
    """On a node, its sync status for the banner and GET /api/v1/node/status; None at headquarters
    (never offline: no query at all). The warning uses the strictest warn_after_hours among the org's
    sites' offline policies (the defaults for sites without one)."""
    if not node.is_edge():
        return None
    now = now or utcnow()
    code = node.current()
    synced = session.scalar(select(NodeState.last_synced_at).where(NodeState.node_code == code))
    strictest = session.scalar(
        select(func.min(func.coalesce(SitePolicy.warn_after_hours, DEFAULT_WARN_AFTER_HOURS)))
        .select_from(Site).outerjoin(SitePolicy, SitePolicy.site_id == Site.id)
        .where(Site.org_id == org_id, Site.kind != SiteKind.IN_TRANSIT))
    warn_hours = int(strictest) if strictest is not None else DEFAULT_WARN_AFTER_HOURS
    if synced is None:
        return NodeSyncStatus(code, None, None, "warn", warn_hours, "从未与总部同步",
                              "本节点从未与总部同步：涉及金额的业务会被拒绝，请尽快连接总部")
    lag = max(int((now - synced).total_seconds()), 0)
    if lag > warn_hours * 3600:
        return NodeSyncStatus(code, synced, lag, "warn", warn_hours, f"上次与总部同步：{_ago(lag)}前",
                              f"已超过 {warn_hours} 小时未与总部同步，请尽快恢复网络；失联过久时涉及金额的业务会被拒绝")
    return NodeSyncStatus(code, synced, lag, "ok", warn_hours, f"上次与总部同步：{_ago(lag)}前", "")
