"""A typed, in-process snapshot of one organisation's master data, keyed by its config version.

A posting reads the same handful of facts every time (the site, the item with its units and grades,
the party, the org's settings, the active mapping rules). Loading them through the ORM was most of a
receipt's client CPU. The snapshot is loaded once per org and process, kept as frozen dataclasses,
and reused while ``orgs.config_version`` is unchanged. Every flush that adds, changes or deletes
master data (``CONFIG_MODELS``) gives the org a new version in the same transaction (see
:func:`install_version_bump`), so no operation can forget to. The version is a random token rather
than a counter: a test or bench that recreates a database must never meet a stale snapshot of
another database that happened to reach the same number.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from models.catalog import Dimension, Grade, Item, ItemUnit, Unit
from models.finance import MappingRule
from models.org import UNVERSIONED, Member, MemberRole, Org, Party, PartyKind, Site, SiteKind
from models.periods import AccountingPeriod, PeriodStatus
from models.units import item_unit_factors

#: Rows whose change gives their org a new config version (roles too: they are master data; closed
#: periods too: every posting checks them).
CONFIG_MODELS: tuple[type, ...] = (Org, Site, Item, ItemUnit, Grade, Unit, Party, MappingRule, Member, MemberRole,
                                   AccountingPeriod)


def new_config_version() -> str:
    """A fresh random version token (see the module docstring for why not a counter)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class SiteInfo:
    id: int
    code: str
    name: str
    kind: SiteKind
    allow_negative: bool
    active: bool
    #: In-transit sites: the route they stand for (a deactivated route refuses new transfers).
    route_from_id: int | None = None
    route_to_id: int | None = None


@dataclass(frozen=True)
class GradeInfo:
    id: int
    item_id: int
    name: str
    purchase_price: Decimal


@dataclass(frozen=True)
class ItemInfo:
    id: int
    code: str
    name: str
    base_unit: str
    dimension: Dimension
    shelf_life_days: int | None
    active: bool
    #: Every unit name accepted for the item → its factor to the base unit (mass units and packs).
    unit_factors: Mapping[str, Decimal]
    grade_ids: tuple[int, ...]
    sale_price: Decimal | None = None
    vat_rate: Decimal | None = None


@dataclass(frozen=True)
class PartyInfo:
    id: int
    name: str
    kind: PartyKind
    active: bool
    vat_rate: Decimal | None = None


@dataclass(frozen=True)
class RuleInfo:
    id: int
    event: str
    condition: Mapping[str, Any]
    lines: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class OrgInfo:
    id: int
    prepayment_ratio: Decimal
    #: The org's settings JSON as stored; the typed readers in models.org_settings interpret it.
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class CatalogSnapshot:
    """What postings read of an organisation's master data, as of ``version``."""

    org: OrgInfo
    version: str
    sites: Mapping[int, SiteInfo]
    items: Mapping[int, ItemInfo]
    grades: Mapping[int, GradeInfo]
    parties: Mapping[int, PartyInfo]
    #: Active rules per event, best first (priority, then newest).
    rules: Mapping[str, tuple[RuleInfo, ...]] = field(default_factory=dict)
    #: Accounting periods (YYYYMM) closed (结账): no voucher may be dated in them.
    closed_periods: frozenset[str] = frozenset()


def load_snapshot(session: Session, org_id: int, version: str) -> CatalogSnapshot:
    """Read an organisation's master data into a snapshot (a handful of queries, once per version)."""
    org = session.get_one(Org, org_id)
    mass = {u.name: u.factor for u in session.scalars(
        select(Unit).where(Unit.org_id == org_id, Unit.dimension == Dimension.MASS))}
    items: dict[int, ItemInfo] = {}
    grades: dict[int, GradeInfo] = {}
    for item in session.scalars(select(Item).where(Item.org_id == org_id)):
        items[item.id] = ItemInfo(
            id=item.id, code=item.code, name=item.name, base_unit=item.base_unit, dimension=item.dimension,
            shelf_life_days=item.shelf_life_days, active=item.active, unit_factors=item_unit_factors(item, mass),
            grade_ids=tuple(g.id for g in item.grades), sale_price=item.sale_price,
            vat_rate=item.vat_rate)
        for g in item.grades:
            grades[g.id] = GradeInfo(id=g.id, item_id=g.item_id, name=g.name, purchase_price=g.purchase_price)
    sites = {s.id: SiteInfo(id=s.id, code=s.code, name=s.name, kind=s.kind, allow_negative=s.allow_negative,
                            active=s.active, route_from_id=s.route_from_id, route_to_id=s.route_to_id)
             for s in session.scalars(select(Site).where(Site.org_id == org_id))}
    parties = {p.id: PartyInfo(id=p.id, name=p.name, kind=p.kind, active=p.active, vat_rate=p.vat_rate)
               for p in session.scalars(select(Party).where(Party.org_id == org_id))}
    rules: dict[str, list[RuleInfo]] = {}
    for rule in session.scalars(select(MappingRule).where(MappingRule.org_id == org_id, MappingRule.active.is_(True))
                                .order_by(MappingRule.priority.desc(), MappingRule.id.desc())):
        rules.setdefault(rule.event, []).append(RuleInfo(
            id=rule.id, event=rule.event, condition=dict(rule.condition or {}), lines=tuple(rule.lines)))
    settings = org.settings if isinstance(org.settings, dict) else {}
    closed = frozenset(session.scalars(select(AccountingPeriod.period).where(
        AccountingPeriod.org_id == org_id, AccountingPeriod.status == PeriodStatus.CLOSED)))
    return CatalogSnapshot(
        org=OrgInfo(id=org.id, prepayment_ratio=org.prepayment_ratio, settings=dict(settings)),
        version=version, sites=sites, items=items, grades=grades, parties=parties,
        rules={event: tuple(found) for event, found in rules.items()}, closed_periods=closed)


_cache: dict[int, CatalogSnapshot] = {}
_cache_lock = threading.Lock()


def current_version(session: Session, org_id: int) -> str:
    """The org's config version as this transaction sees it (one indexed read)."""
    version = session.scalar(select(Org.config_version).where(Org.id == org_id))
    return version or ""


def snapshot_for(session: Session, org_id: int, version: str | None = None) -> CatalogSnapshot:
    """Return the org's snapshot for ``version`` (read now if not given), loading it if the cache is stale."""
    if version is None:
        version = current_version(session, org_id)
    cached = _cache.get(org_id)
    if cached is not None and cached.version == version and version and version != UNVERSIONED:
        return cached
    snap = load_snapshot(session, org_id, version)
    if version and version != UNVERSIONED:  # a row written without the ORM is never cached
        with _cache_lock:
            _cache[org_id] = snap
    return snap


def clear_cache() -> None:
    """Forget every snapshot (tests that edit master data behind the ORM's back)."""
    with _cache_lock:
        _cache.clear()


def _touched_orgs(session: Session) -> set[int]:
    orgs: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, CONFIG_MODELS):
            org_id = obj.id if isinstance(obj, Org) else getattr(obj, "org_id", None)
            if org_id is not None:
                orgs.add(org_id)
    return orgs


def _bump_after_flush(session: Session, _flush_context: Any) -> None:
    orgs = session.info.pop("config_touched", set())
    if orgs:
        session.info.pop("unit_of_work", None)  # its snapshot is of the old version
        session.info.pop("catalog", None)
        session.execute(update(Org).where(Org.id.in_(sorted(orgs))).values(config_version=new_config_version())
                        .execution_options(synchronize_session=False, config_version_bump=True))


def _note_before_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    touched = _touched_orgs(session)
    if touched:
        session.info.setdefault("config_touched", set()).update(touched)


def _bulk_change(state: ORMExecuteState) -> None:
    """A bulk UPDATE/DELETE of master data names no org we can see: every org gets a new version."""
    if not (state.is_update or state.is_delete) or state.execution_options.get("config_version_bump"):
        return
    mapper = state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, CONFIG_MODELS):
        return
    state.session.info.pop("unit_of_work", None)
    state.session.info.pop("catalog", None)
    state.session.execute(update(Org).values(config_version=new_config_version())
                          .execution_options(synchronize_session=False, config_version_bump=True))


def install_version_bump() -> None:
    """Give an org a new config version in every flush that changes its master data (idempotent)."""
    if not event.contains(Session, "before_flush", _note_before_flush):
        event.listen(Session, "before_flush", _note_before_flush)
        event.listen(Session, "after_flush", _bump_after_flush)
        event.listen(Session, "do_orm_execute", _bulk_change)
