"""Edge nodes of an organisation with their sites, last contact and lag; and a node's own sync state.

Lag is the seconds since the node last reached headquarters (None: never). Requires Permission.RULES
(the same as event health and devices: node codes and sites of the whole organisation). Never returns
a node's key. Writes nothing.
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
from models.nodes import Node, NodeSite, NodeState
from models.org import DEFAULT_WARN_AFTER_HOURS, Org, Site, SiteKind, SitePolicy


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

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "name": self.name, "active": self.active,
                "sites": [{"id": s.id, "code": s.code, "name": s.name} for s in self.sites],
                "created_at": self.created_at.isoformat(),
                "last_contact_at": self.last_contact_at.isoformat() if self.last_contact_at else None,
                "last_contact_ip": self.last_contact_ip, "last_version": self.last_version,
                "lag_seconds": self.lag_seconds, "rows_up": self.rows_up, "rows_down": self.rows_down}


def list_nodes(session: Session, actor: Actor, now: datetime | None = None) -> list[NodeLine]:
    """The organisation's nodes by code, each with its sites, last contact and lag in seconds."""
    actor.require(Permission.RULES)
    now = now or utcnow()
    nodes = session.scalars(select(Node).where(Node.org_id == actor.org_id).order_by(Node.code)).all()
    served: dict[int, list[NodeSiteLine]] = {}
    if nodes:
        for node_id, site_id, code, name in session.execute(
                select(NodeSite.node_id, Site.id, Site.code, Site.name).join(Site, Site.id == NodeSite.site_id)
                .where(NodeSite.node_id.in_([n.id for n in nodes])).order_by(Site.code)):
            served.setdefault(node_id, []).append(NodeSiteLine(site_id, code, name))
    return [NodeLine(n.id, n.code, n.name, n.active, tuple(served.get(n.id, ())), n.created_at,
                     n.last_contact_at, n.last_contact_ip, n.last_version,
                     max(0, int((now - n.last_contact_at).total_seconds())) if n.last_contact_at else None,
                     n.rows_up, n.rows_down) for n in nodes]


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
