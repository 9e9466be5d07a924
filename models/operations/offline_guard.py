"""The per-site offline policy applied by the operations at an edge node (issue 14 point 3).

Headquarters is never offline: :func:`check_offline` returns at once there, before any query, so its
behaviour is untouched. At a node it reads when the node last synced (NodeState) and asks
models.queries.offline_policy whether this kind of operation may run at the site now. A refusal raises
before the operation writes anything; a warning is logged (the console's banner shows the lag too).
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import node
from models.base import utcnow
from models.documents import DocKind, DocStatus, Document
from models.errors import (
    DomainError,
    NodeOfflineCreditExceeded,
    NodeOfflineNotAllowed,
    NodeOfflineTooLong,
)
from models.nodes import NodeState
from models.org import OfflineKind
from models.queries.offline_policy import (
    NODE_OFFLINE_CREDIT_EXCEEDED,
    NODE_OFFLINE_NOT_ALLOWED,
    Allowance,
    Verdict,
    offline_allowance,
    site_policy,
)
from models.timeutil import SHANGHAI

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[DomainError]] = {
    NODE_OFFLINE_NOT_ALLOWED: NodeOfflineNotAllowed,
    NODE_OFFLINE_CREDIT_EXCEEDED: NodeOfflineCreditExceeded,
}


def last_synced_at(session: Session) -> datetime | None:
    """When this node last exchanged with headquarters (None: never)."""
    return session.scalar(select(NodeState.last_synced_at).where(NodeState.node_code == node.current()))


def _shipped_today(session: Session, site_id: int, since: datetime | None, now: datetime) -> Decimal:
    """The value of the shipments posted at the site today (Shanghai) since the node last synced."""
    start = datetime.combine(now.astimezone(SHANGHAI).date(), time(), SHANGHAI)
    if since is not None and since > start:
        start = since
    total = session.scalar(select(func.coalesce(func.sum(Document.total_amount), 0)).where(
        Document.site_id == site_id, Document.kind == DocKind.SHIPMENT, Document.status == DocStatus.POSTED,
        Document.created_at >= start))
    return Decimal(total or 0)


def check_offline(session: Session, site_id: int | None, kind: OfflineKind,
                  value: Decimal | None = None) -> Allowance | None:
    """Refuse ``kind`` at ``site_id`` when the site's offline policy says so (a DomainError carrying
    the policy's code, raised before anything is written). None at headquarters or for no site.

    ``value``: a shipment's money value, checked against the site's daily offline ship credit."""
    if not node.is_edge() or site_id is None:
        return None
    synced, now = last_synced_at(session), utcnow()
    shipped = Decimal(0)
    if kind == OfflineKind.SHIP and value is not None and site_policy(session, site_id).ship_credit_per_day is not None:
        shipped = _shipped_today(session, site_id, synced, now)
    allowance = offline_allowance(session, site_id, kind, synced, now, value=value or Decimal(0),
                                  shipped_today=shipped)
    if allowance.verdict == Verdict.REFUSED:
        error = _ERRORS.get(allowance.code or "", NodeOfflineTooLong)
        raise error(allowance.reason, site_id=site_id, kind=kind.value)
    if allowance.verdict == Verdict.WARN:
        log.warning("offline %s at site %s: %s", kind.value, site_id, allowance.reason)
    return allowance
