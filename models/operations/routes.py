"""Transfer routes (调拨路线) in 设置: declare one, set its usual transit time, (de)activate it.

A route is the in-transit site between two of the org's sites (models.org.Site route_from_id /
route_to_id). A first transfer still makes one on its own; declaring it ahead gives it a transit time.
A deactivated route refuses new transfers along it (models.operations.transfers, at request and at
dispatch); transfers already in transit still arrive. Audited under 分配角色, like editing a site.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.errors import DataConflict, ValidationError
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.settings_admin import Saved
from models.operations.transfers import new_route_site
from models.org import Site, SiteKind
from models.outbox import emit

#: A month on the road is the longest usual transit time accepted (beyond that: a typo).
TRANSIT_HOURS_MAX = 24 * 30


def _hours(value: int | None) -> int | None:
    if value is not None and not 0 < value <= TRANSIT_HOURS_MAX:
        raise ValidationError(f"在途时间应在 1 到 {TRANSIT_HOURS_MAX} 小时之间", field="transit_hours")
    return value


def _stock_site(session: Session, actor: Actor, site_id: int, field: str) -> Site:
    site = get_owned(session, Site, site_id, actor.org_id)
    if site.kind == SiteKind.IN_TRANSIT:
        raise ValidationError("路线的两端须是收购点、仓库或门店，不能是在途地点", field=field)
    return site


@dataclass(frozen=True)
class DeclareRoute:
    from_site_id: int
    to_site_id: int
    transit_hours: int | None = None
    reason: str = ""


@idempotent("route.declare")
def declare_route(session: Session, actor: Actor, cmd: DeclareRoute) -> int:
    """Declare the route ``from`` → ``to`` between two of the org's own sites; answers its id."""
    actor.require(Permission.ROLES)
    source = _stock_site(session, actor, cmd.from_site_id, "from_site_id")
    dest = _stock_site(session, actor, cmd.to_site_id, "to_site_id")
    if source.id == dest.id:
        raise ValidationError("路线的起点和终点不能是同一个地点", field="to_site_id")
    hours = _hours(cmd.transit_hours)
    taken = session.scalar(select(Site.id).where(Site.org_id == actor.org_id, Site.kind == SiteKind.IN_TRANSIT,
                                                 Site.route_from_id == source.id, Site.route_to_id == dest.id))
    if taken is not None:
        raise DataConflict(f"已有路线 {source.name}→{dest.name}", field="to_site_id", route_id=taken)
    route = new_route_site(actor.org_id, source, dest)
    route.transit_hours = hours
    session.add(route)
    session.flush()
    record_audit(session, actor, "route.declared", "site", route.id, before=None,
                 after={"from": source.code, "to": dest.code, "transit_hours": hours}, reason=cmd.reason)
    emit(session, actor.org_id, "site.updated", {"site_id": route.id, "changed": ["route"]})
    return route.id


@dataclass(frozen=True)
class UpdateRoute:
    route_id: int
    transit_hours: int | None = None
    active: bool = True
    reason: str = ""


@idempotent("route.update")
def update_route(session: Session, actor: Actor, cmd: UpdateRoute) -> Saved:
    """Change a route's usual transit time or (de)activate it; audited."""
    actor.require(Permission.ROLES)
    route = get_owned(session, Site, cmd.route_id, actor.org_id, lock=True)
    if route.kind != SiteKind.IN_TRANSIT or route.route_from_id is None:
        raise ValidationError("这不是一条调拨路线", field="route_id")
    hours = _hours(cmd.transit_hours)
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    for name, value in (("transit_hours", hours), ("active", cmd.active)):
        if getattr(route, name) != value:
            before[name], after[name] = getattr(route, name), value
            setattr(route, name, value)
    if after:
        record_audit(session, actor, "route.updated", "site", route.id, before=before, after=after,
                     reason=cmd.reason)
        emit(session, actor.org_id, "site.updated", {"site_id": route.id, "changed": sorted(after)})
    return Saved(route.id, tuple(sorted(after)))
