"""The audit log, searchable: who changed which price, role, rule, mapping or master data, and when.

Filters run in SQL (who, what kind, which record, a date range in Asia/Shanghai days); pages of
``PAGE`` rows, newest first, with a keyset cursor on id (ids grow with time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.infra import AuditEntry
from models.org import Member
from models.queries.settings_lists import Page, require_any
from models.timeutil import SHANGHAI

PAGE = 50

#: What an action is called on screen (the code stays in the export for programs).
ACTION_LABELS: dict[str, str] = {
    "grade.price_changed": "等级收购价", "grade.created": "新增等级", "member.created": "新增成员",
    "member.roles_changed": "成员角色",
    "member.updated": "成员资料", "member.binding_code_issued": "发放绑定码", "member.identity_bound": "绑定账号",
    "member.identity_revoked": "解除绑定", "item.updated": "商品资料", "party.updated": "往来单位资料",
    "site.updated": "地点资料", "org.updated": "单位设置", "org.vat_rate": "默认税率", "item.vat_rate": "商品税率",
    "party.vat_rate": "往来单位税率", "masterdata.imported": "导入资料", "opening_stock.posted": "期初库存",
    "unit.created": "新增计量单位", "unit.renamed": "计量单位改名", "pack.created": "新增包装",
    "pack.updated": "修改包装", "pack.removed": "删除包装", "route.declared": "登记调拨路线",
    "route.updated": "调拨路线",
}
ENTITY_LABELS: dict[str, str] = {
    "grade": "等级", "member": "成员", "item": "商品", "party": "往来单位", "site": "地点", "org": "单位",
    "mapping_rule": "记账规则", "rule": "规则", "document": "单据",
    "unit": "计量单位", "pack": "包装", "route": "调拨路线",  # the last two: the audit page's kinds (pack., route.)
}


def action_label(action: str) -> str:
    """The Chinese name of an audit action (its code when none is known yet)."""
    return ACTION_LABELS.get(action, action)


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, SHANGHAI)


def audit_entries(session: Session, actor: Actor, *, actor_id: int | None = None, action: str = "",
                  entity_id: str = "", since: date | None = None, until: date | None = None,
                  before_id: int | None = None, limit: int = PAGE) -> Page:
    """A page of the org's audit rows, newest first. ``action`` matches a kind or its prefix
    ("member." for every member change); ``entity_id`` an id or a document number."""
    require_any(actor, Permission.ROLES, Permission.MEMBERS, Permission.PRICES, Permission.MAPPING)
    stmt = select(AuditEntry, Member.name).outerjoin(Member, Member.id == AuditEntry.actor_id).where(
        AuditEntry.org_id == actor.org_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    if entity_id:
        stmt = stmt.where(AuditEntry.entity_id == entity_id[:64])
    if since is not None:
        stmt = stmt.where(AuditEntry.created_at >= _day_start(since))
    if until is not None:
        stmt = stmt.where(AuditEntry.created_at < _day_start(until + timedelta(days=1)))
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    found = session.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)).all()
    rows = [AuditRow(e.id, e.created_at, e.actor_id, name or "系统", e.action, e.entity, e.entity_id, e.before,
                     e.after, e.reason) for e, name in found[:limit]]
    return Page(rows, rows[-1].id if len(found) > limit and rows else None)
