"""Edge nodes at headquarters: register one for some of the org's sites, rotate its key, deactivate it.

The key is 32 random bytes (base64url) returned once by register_node / rotate_node_key and never
again: it is kept in ``nodes.key`` because verifying the node's HMAC signatures needs it, and it is
left out of every audit row, outbox event, log line and page. Managed under 分配角色 (Permission.ROLES),
like sites, routes, devices and webhooks.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.errors import NodeDuplicate, ValidationError
from models.lookup import get_owned
from models.nodes import Node, NodeSite, NodeState
from models.org import Org, Site, SiteKind
from models.outbox import emit

CODE = re.compile(r"[A-Z0-9]{1,8}")
#: More sites than an edge box plausibly serves is a typo or a payload.
MAX_SITES = 50
NAME_MAX = 64


def new_key() -> str:
    """A fresh node key: 32 random bytes, base64url without padding (43 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


@dataclass(frozen=True)
class RegisterNode:
    code: str
    site_ids: tuple[int, ...]
    name: str = ""


@dataclass(frozen=True)
class NodeKey:
    node_id: int
    code: str
    #: Returned this once (registration or rotation), never shown again.
    key: str


def _sites(session: Session, actor: Actor, site_ids: tuple[int, ...]) -> list[Site]:
    if not site_ids or len(site_ids) > MAX_SITES:
        raise ValidationError(f"节点须服务 1 到 {MAX_SITES} 个站点", field="site_ids")
    sites: list[Site] = []
    for site_id in dict.fromkeys(site_ids):  # duplicates collapse, order kept
        site = get_owned(session, Site, site_id, actor.org_id)  # another org's site: NotFound
        if site.kind == SiteKind.IN_TRANSIT:
            raise ValidationError(f"{site.name} 是在途地点，节点只能服务收购点、仓库或门店", field="site_ids")
        sites.append(site)
    return sites


def register_node(session: Session, actor: Actor, cmd: RegisterNode) -> NodeKey:
    """Register an edge node for some of the org's own sites (audited); return its key, shown once.

    Not @idempotent on purpose: the answer carries the key, which must never sit in an idempotency
    record. A second registration of the same code is refused (NODE_DUPLICATE), never answered again.
    """
    actor.require(Permission.ROLES)
    code = cmd.code if isinstance(cmd.code, str) else ""
    if not CODE.fullmatch(code):
        raise ValidationError("节点编号须是 1 到 8 位大写字母或数字（如 SX1）", field="code")
    name = (cmd.name or "").strip()
    if len(name) > NAME_MAX:
        raise ValidationError(f"节点名称不超过 {NAME_MAX} 个字", field="name")
    sites = _sites(session, actor, cmd.site_ids)
    # The org's row is the lock: two registrations of one code run one at a time (the unique key backs it).
    session.get(Org, actor.org_id, with_for_update=True)
    if session.scalar(select(Node.id).where(Node.org_id == actor.org_id, Node.code == code)) is not None:
        raise NodeDuplicate(f"节点编号 {code} 已存在；要换密钥请用“更换密钥”", field="code")
    key = new_key()
    node = Node(org_id=actor.org_id, code=code, name=name or code, key=key, created_by=actor.member_id,
                active=True, rows_up=0, rows_down=0)
    session.add(node)
    session.flush()
    for site in sites:
        session.add(NodeSite(node_id=node.id, site_id=site.id))
    facts = {"code": code, "name": node.name, "site_ids": [s.id for s in sites]}
    record_audit(session, actor, "node.register", "node", node.id, before=None, after=facts)
    emit(session, actor.org_id, "node.registered", {"node_id": node.id, **facts})
    return NodeKey(node.id, code, key)


@dataclass(frozen=True)
class RotateNodeKey:
    node_id: int
    reason: str = ""


def rotate_node_key(session: Session, actor: Actor, cmd: RotateNodeKey) -> NodeKey:
    """Give a node a new key (the old one stops working at once); return it, shown once. Audited."""
    actor.require(Permission.ROLES)
    node = get_owned(session, Node, cmd.node_id, actor.org_id, lock=True)
    node.key = new_key()
    # A rebuilt node database is re-adopted at its next exchange (models.operations.node_exchange).
    node.epoch = None
    # Which key is not recorded anywhere: only that it changed.
    record_audit(session, actor, "node.rotate_key", "node", node.id, before=None, after={"code": node.code},
                 reason=cmd.reason[:200])
    emit(session, actor.org_id, "node.key_rotated", {"node_id": node.id, "code": node.code})
    return NodeKey(node.id, node.code, node.key)


@dataclass(frozen=True)
class DeactivateNode:
    node_id: int
    reason: str = ""


@dataclass(frozen=True)
class NodeDeactivated:
    node_id: int
    active: bool


def deactivate_node(session: Session, actor: Actor, cmd: DeactivateNode) -> NodeDeactivated:
    """Stop a node: its signed requests are refused (NODE_UNKNOWN) from now on. Idempotent by state."""
    actor.require(Permission.ROLES)
    node = get_owned(session, Node, cmd.node_id, actor.org_id, lock=True)
    if node.active:
        node.active = False
        record_audit(session, actor, "node.deactivate", "node", node.id, before={"active": True},
                     after={"active": False}, reason=cmd.reason[:200])
        emit(session, actor.org_id, "node.deactivated", {"node_id": node.id, "code": node.code})
    return NodeDeactivated(node.id, node.active)


@dataclass(frozen=True)
class RecordNodeContact:
    node_id: int
    ip: str
    version: str = ""
    at: datetime | None = None


def record_node_contact(session: Session, actor: Actor, cmd: RecordNodeContact) -> None:
    """Note that a node (already authenticated by node_auth) reached headquarters now, from ``ip``.

    Called with the node's system actor; not audited (a heartbeat every minute would bury the audit log).
    """
    node = get_owned(session, Node, cmd.node_id, actor.org_id, lock=True)
    node.last_contact_at = cmd.at or utcnow()
    node.last_contact_ip = cmd.ip[:64]
    node.last_version = cmd.version[:32] or None


@dataclass(frozen=True)
class RecordSync:
    """On a node: the outcome of one exchange with headquarters."""

    node_code: str
    ok: bool
    hq_time: datetime | None = None
    error: str = ""


def record_sync(session: Session, cmd: RecordSync) -> NodeState:
    """Keep the node's own "last synced at" (only a success moves it) and its last error, if any."""
    state = session.scalar(select(NodeState).where(NodeState.node_code == cmd.node_code))
    if state is None:
        state = NodeState(node_code=cmd.node_code, last_error="")
        session.add(state)
    if cmd.ok:
        state.last_synced_at = utcnow()
        state.hq_time = cmd.hq_time
        state.last_error = ""
    else:
        state.last_error = cmd.error[:200]
    session.flush()
    return state
