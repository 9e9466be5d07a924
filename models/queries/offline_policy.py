"""A site's autonomy policy while its edge node is offline, and the check an operation will make
(issue 14 point 3): may this kind of operation run now, given when the node last synced?

Applied at an edge node by the operations (models.operations.offline_guard), with the node's
last-synced time from node_state. The decision is a pure function of the policy and the lag
(:func:`decide`), monotone in the lag: a node that synced later is never treated more strictly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.errors import NotFound
from models.org import (
    DEFAULT_OFFLINE_KINDS,
    DEFAULT_REFUSE_MONEY_AFTER_HOURS,
    DEFAULT_WARN_AFTER_HOURS,
    OfflineKind,
    Site,
    SiteKind,
    SitePolicy,
)

#: Up to this lag the node counts as online (a few sync intervals): nothing is restricted.
ONLINE_GRACE = timedelta(minutes=10)

#: Kinds that create money owed to or by a party (a payable, a sale): refused after the longer lag.
MONEY_KINDS = frozenset({OfflineKind.RECEIVE, OfflineKind.SHIP})

OFFLINE_KIND_LABELS: dict[OfflineKind, str] = {
    OfflineKind.RECEIVE: "收货入库", OfflineKind.SHIP: "出库销售", OfflineKind.COUNT: "盘点",
    OfflineKind.FREEZE: "传感器冻结", OfflineKind.TRANSFER_OUT: "调出", OfflineKind.APPROVE: "本地审批",
}


class Verdict(enum.IntEnum):
    """Ordered: a longer lag never moves a verdict down."""

    ALLOWED = 0
    WARN = 1
    REFUSED = 2


#: Stable codes clients switch on.
NODE_OFFLINE_NOT_ALLOWED = "NODE_OFFLINE_NOT_ALLOWED"
NODE_OFFLINE_TOO_LONG = "NODE_OFFLINE_TOO_LONG"
NODE_OFFLINE_CREDIT_EXCEEDED = "NODE_OFFLINE_CREDIT_EXCEEDED"


@dataclass(frozen=True)
class Policy:
    """A site's policy as read (the defaults when it has no row)."""

    site_id: int
    offline_kinds: tuple[OfflineKind, ...] = DEFAULT_OFFLINE_KINDS
    ship_credit_per_day: Decimal | None = None
    warn_after_hours: int = DEFAULT_WARN_AFTER_HOURS
    refuse_money_after_hours: int = DEFAULT_REFUSE_MONEY_AFTER_HOURS
    #: False: the site has no policy row of its own.
    own: bool = False


@dataclass(frozen=True)
class Allowance:
    verdict: Verdict
    #: None when allowed; else one of the NODE_OFFLINE_* codes.
    code: str | None = None
    reason: str = ""

    @property
    def allowed(self) -> bool:
        """Tell whether the operation may run (with a warning or without)."""
        return self.verdict != Verdict.REFUSED


def parse_kinds(text: str) -> tuple[OfflineKind, ...]:
    """"receive,count" → the kinds, in their declared order (unknown words dropped)."""
    given = {part.strip() for part in text.split(",")}
    return tuple(k for k in OfflineKind if k.value in given)


def join_kinds(kinds: tuple[OfflineKind, ...] | frozenset[OfflineKind]) -> str:
    """The kinds as stored: comma-separated, in declared order."""
    return ",".join(k.value for k in OfflineKind if k in kinds)


def _policy_of(site_id: int, row: SitePolicy | None) -> Policy:
    if row is None:
        return Policy(site_id)
    return Policy(site_id, parse_kinds(row.offline_kinds), row.ship_credit_per_day, row.warn_after_hours,
                  row.refuse_money_after_hours, own=True)


def site_policy(session: Session, site_id: int) -> Policy:
    """The policy of one site (NotFound for no such site; the defaults when it has none of its own)."""
    site = session.get(Site, site_id)
    if site is None or site.kind == SiteKind.IN_TRANSIT:
        raise NotFound("找不到该地点", site_id=site_id)
    return _policy_of(site_id, session.get(SitePolicy, site_id))


def site_policies(session: Session, actor: Actor) -> dict[int, Policy]:
    """Every site's policy in the actor's org, by site id (sites without a row: the defaults)."""
    actor.require(Permission.ROLES)
    rows = {r.site_id: r for r in session.scalars(select(SitePolicy).where(SitePolicy.org_id == actor.org_id))}
    ids = session.scalars(select(Site.id).where(Site.org_id == actor.org_id, Site.kind != SiteKind.IN_TRANSIT))
    return {i: _policy_of(i, rows.get(i)) for i in ids}


def policy_for(session: Session, actor: Actor, site_id: int) -> Policy:
    """One site of the actor's org with its policy, for the settings screens (NotFound otherwise)."""
    actor.require(Permission.ROLES)
    site = session.get(Site, site_id)
    if site is None or site.org_id != actor.org_id:
        raise NotFound("找不到该地点", site_id=site_id)
    return site_policy(session, site_id)


def _since(lag: timedelta) -> str:
    """"本节点{…}与总部同步": "已 25 小时未", or "从未" for a node that never synced."""
    return "从未" if lag == timedelta.max else f"已 {lag.total_seconds() / 3600:.0f} 小时未"


def decide(policy: Policy, kind: OfflineKind, lag: timedelta, *, value: Decimal = Decimal(0),
           shipped_today: Decimal = Decimal(0)) -> Allowance:
    """The verdict for ``kind`` at a site whose node last synced ``lag`` ago (timedelta.max: never).

    ``value`` and ``shipped_today``: a shipment's money value and the offline shipments of the day so
    far, against the site's daily offline ship credit."""
    if lag <= ONLINE_GRACE:
        return Allowance(Verdict.ALLOWED)
    label, since = OFFLINE_KIND_LABELS[kind], _since(lag)
    if kind not in policy.offline_kinds:
        return Allowance(Verdict.REFUSED, NODE_OFFLINE_NOT_ALLOWED,
                         f"本节点{since}与总部同步，该地点不允许离线{label}；请等网络恢复后再办理")
    if kind in MONEY_KINDS and lag > timedelta(hours=policy.refuse_money_after_hours):
        return Allowance(Verdict.REFUSED, NODE_OFFLINE_TOO_LONG,
                         f"本节点{since}与总部同步（超过 {policy.refuse_money_after_hours} 小时），"
                         f"暂停涉及金额的{label}；请先恢复同步")
    credit = policy.ship_credit_per_day
    if kind == OfflineKind.SHIP and credit is not None and shipped_today + value > credit:
        return Allowance(Verdict.REFUSED, NODE_OFFLINE_CREDIT_EXCEEDED,
                         f"离线出库额度每天 {credit} 元，今天已用 {shipped_today} 元，本单 {value} 元超出额度")
    if lag > timedelta(hours=policy.warn_after_hours):
        return Allowance(Verdict.WARN, NODE_OFFLINE_TOO_LONG,
                         f"本节点{since}与总部同步（超过 {policy.warn_after_hours} 小时），请尽快恢复网络")
    return Allowance(Verdict.ALLOWED)


def offline_allowance(session: Session, site_id: int, operation_kind: OfflineKind | str,
                      last_synced_at: datetime | None, now: datetime, *, value: Decimal = Decimal(0),
                      shipped_today: Decimal = Decimal(0)) -> Allowance:
    """May ``operation_kind`` run at ``site_id`` now, its node having last synced at ``last_synced_at``
    (None: never)? Allowed, allowed with a warning, or refused with a stable code and a reason."""
    try:
        kind = OfflineKind(operation_kind)
    except ValueError:
        raise NotFound("不认识的离线操作类型", operation_kind=str(operation_kind)) from None
    lag = timedelta.max if last_synced_at is None else max(now - last_synced_at, timedelta(0))
    return decide(site_policy(session, site_id), kind, lag, value=value, shipped_today=shipped_today)

