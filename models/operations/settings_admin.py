"""Editing master data after it was created: items, parties, sites, members and the org's settings.

Every change is audited with before/after in the same transaction, and (being a change of a
``CONFIG_MODELS`` row) renews the org's config version through the session hook in
``models.catalog_snapshot``, so the next posting reads the new catalog. Nothing is ever deleted:
a row that is no longer used is deactivated (documents keep pointing at it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import ROLE_PERMISSIONS, Actor, Permission
from models.audit import record_audit
from models.catalog import Item
from models.errors import PermissionDenied, ValidationError
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.identity import CODE_MINUTES_RANGE
from models.operations.masterdata import (
    CreateItem,
    CreateMember,
    CreateParty,
    CreateSite,
    create_item,
    create_member,
    create_party,
    create_site,
)
from models.org import (
    DEFAULT_OFFLINE_KINDS,
    DEFAULT_REFUSE_MONEY_AFTER_HOURS,
    DEFAULT_WARN_AFTER_HOURS,
    Member,
    OfflineKind,
    Org,
    Party,
    Role,
    Site,
    SiteKind,
    SitePolicy,
)
from models.outbox import emit
from models.queries.offline_policy import join_kinds

#: Bounds of what a person types into a settings form (the columns' own lengths).
NAME_MAX = 128
PHONE_MAX = 32
MONEY_MAX = Decimal(10) ** 10


def _text(value: str, field: str, label: str, *, max_len: int = NAME_MAX, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationError(f"{label}不能为空", field=field)
    if len(text) > max_len:
        raise ValidationError(f"{label}最多 {max_len} 个字", field=field)
    if any(ord(ch) < 32 for ch in text):
        raise ValidationError(f"{label}含有不可见字符", field=field)
    return text


def _phone(value: str | None) -> str | None:
    text = (value or "").strip().removeprefix("+86")
    if not text:
        return None
    if not (text.isascii() and text.replace("-", "").isdigit() and 5 <= len(text) <= PHONE_MAX):
        raise ValidationError("手机号只能是数字", field="phone")
    return text


def _changes(row: object, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``values`` to ``row``; return (before, after) of the fields that changed, as strings."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in values.items():
        old = getattr(row, name)
        if old != value:
            before[name] = None if old is None else str(old)
            after[name] = None if value is None else str(value)
            setattr(row, name, value)
    return before, after


# --- creating, replayable by key ---------------------------------------------------------------------

@idempotent("item.create")
def add_item(session: Session, actor: Actor, cmd: CreateItem) -> int:
    """``create_item`` behind an idempotency key: a form or request sent twice adds one item."""
    return create_item(session, actor, cmd)


@idempotent("party.create")
def add_party(session: Session, actor: Actor, cmd: CreateParty) -> int:
    """``create_party`` behind an idempotency key."""
    return create_party(session, actor, cmd)


@idempotent("site.create")
def add_site(session: Session, actor: Actor, cmd: CreateSite) -> int:
    """``create_site`` behind an idempotency key."""
    return create_site(session, actor, cmd)


# --- items ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateItem:
    item_id: int
    name: str
    aliases: tuple[str, ...] = ()
    shelf_life_days: int | None = None
    sale_price: Decimal | None = None
    active: bool = True
    reason: str = ""


@dataclass(frozen=True)
class Saved:
    """What a settings edit answers: the row, and which fields changed (empty: nothing to do)."""

    id: int
    changed: tuple[str, ...]


@idempotent("item.update")
def update_item(session: Session, actor: Actor, cmd: UpdateItem) -> Saved:
    """Rename an item, change its aliases, shelf life or sale price, or (de)activate it; audited."""
    actor.require(Permission.PRICES)
    item = get_owned(session, Item, cmd.item_id, actor.org_id, lock=True)
    name = _text(cmd.name, "name", "名称")
    aliases = ",".join(a for a in (_text(a, "aliases", "别名", required=False) for a in cmd.aliases) if a)
    if len(aliases) > 256:
        raise ValidationError("别名合计最多 256 个字", field="aliases")
    if cmd.shelf_life_days is not None and not 0 < cmd.shelf_life_days <= 36500:
        raise ValidationError("保质期应在 1 到 36500 天之间", field="shelf_life_days")
    if cmd.sale_price is not None and not (cmd.sale_price.is_finite() and 0 <= cmd.sale_price < MONEY_MAX):
        raise ValidationError("售价应为不小于 0 的金额", field="sale_price")
    before, after = _changes(item, {"name": name, "aliases": aliases, "shelf_life_days": cmd.shelf_life_days,
                                    "sale_price": cmd.sale_price, "active": cmd.active})
    if after:
        record_audit(session, actor, "item.updated", "item", item.id, before=before, after=after, reason=cmd.reason)
        emit(session, actor.org_id, "item.updated", {"item_id": item.id, "changed": sorted(after)})
    return Saved(item.id, tuple(sorted(after)))


# --- parties -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateParty:
    party_id: int
    name: str
    phone: str | None = None
    credit_days: int = 0
    credit_limit: Decimal | None = None
    active: bool = True
    reason: str = ""


@idempotent("party.update")
def update_party(session: Session, actor: Actor, cmd: UpdateParty) -> Saved:
    """Change a farmer's, supplier's or customer's name, phone or credit terms, or (de)activate it."""
    party = get_owned(session, Party, cmd.party_id, actor.org_id, lock=True)
    actor.require(Permission.ORDER_SALES if party.kind == "customer" else Permission.ORDER_PURCHASE)
    values: dict[str, Any] = {"name": _text(cmd.name, "name", "名称"), "phone": _phone(cmd.phone),
                              "active": cmd.active}
    if not 0 <= cmd.credit_days <= 3650:
        raise ValidationError("账期应在 0 到 3650 天之间", field="credit_days")
    if cmd.credit_limit is not None and not (cmd.credit_limit.is_finite() and 0 <= cmd.credit_limit < MONEY_MAX):
        raise ValidationError("信用额度应为不小于 0 的金额", field="credit_limit")
    if (cmd.credit_days, cmd.credit_limit) != (party.credit_days, party.credit_limit):
        actor.require(Permission.PRICES)  # credit terms are money: who may owe how much, for how long
        values.update(credit_days=cmd.credit_days, credit_limit=cmd.credit_limit)
    before, after = _changes(party, values)
    if after:
        record_audit(session, actor, "party.updated", "party", party.id, before=before, after=after,
                     reason=cmd.reason)
        emit(session, actor.org_id, "party.updated", {"party_id": party.id, "changed": sorted(after)})
    return Saved(party.id, tuple(sorted(after)))


# --- sites ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateSite:
    site_id: int
    name: str
    allow_negative: bool = False
    active: bool = True
    reason: str = ""


@idempotent("site.update")
def update_site(session: Session, actor: Actor, cmd: UpdateSite) -> Saved:
    """Rename a site, change its negative-stock policy, or (de)activate it; audited."""
    actor.require(Permission.ROLES)
    site = get_owned(session, Site, cmd.site_id, actor.org_id, lock=True)
    if site.kind == SiteKind.IN_TRANSIT:
        raise ValidationError("在途地点是调拨路线，请在“调拨路线”中修改", field="site_id")
    before, after = _changes(site, {"name": _text(cmd.name, "name", "名称"),
                                    "allow_negative": cmd.allow_negative, "active": cmd.active})
    if after:
        record_audit(session, actor, "site.updated", "site", site.id, before=before, after=after, reason=cmd.reason)
        emit(session, actor.org_id, "site.updated", {"site_id": site.id, "changed": sorted(after)})
    return Saved(site.id, tuple(sorted(after)))


@dataclass(frozen=True)
class UpdateSitePolicy:
    """A site's autonomy policy while its edge node is offline (models.queries.offline_policy)."""

    site_id: int
    offline_kinds: tuple[str, ...]
    ship_credit_per_day: Decimal | None = None
    warn_after_hours: int = DEFAULT_WARN_AFTER_HOURS
    refuse_money_after_hours: int = DEFAULT_REFUSE_MONEY_AFTER_HOURS
    reason: str = ""


#: Longest a policy may let a node stay unsynced before it warns or refuses: 30 days.
POLICY_HOURS_MAX = 720


@idempotent("site.policy")
def update_site_policy(session: Session, actor: Actor, cmd: UpdateSitePolicy) -> Saved:
    """Set which operations a site's node may do offline, its daily offline ship credit, and after how
    many hours unsynced it warns and then refuses money-bearing operations; audited."""
    actor.require(Permission.ROLES)
    site = get_owned(session, Site, cmd.site_id, actor.org_id, lock=True)
    if site.kind == SiteKind.IN_TRANSIT:
        raise ValidationError("在途地点没有离线策略", field="site_id")
    unknown = sorted(set(cmd.offline_kinds) - {k.value for k in OfflineKind})
    if unknown:
        raise ValidationError(f"不认识的离线操作：{'、'.join(unknown)}", field="offline_kinds")
    for field, hours, label in (("warn_after_hours", cmd.warn_after_hours, "离线提醒时长"),
                                ("refuse_money_after_hours", cmd.refuse_money_after_hours, "离线停办金额业务时长")):
        if not 1 <= hours <= POLICY_HOURS_MAX:
            raise ValidationError(f"{label}须在 1 到 {POLICY_HOURS_MAX} 小时之间", field=field)
    if cmd.warn_after_hours > cmd.refuse_money_after_hours:
        raise ValidationError("离线提醒时长不能长于停办金额业务的时长", field="warn_after_hours")
    credit = cmd.ship_credit_per_day
    if credit is not None and not (credit.is_finite() and 0 <= credit < MONEY_MAX
                                   and credit == credit.quantize(Decimal("0.01"))):
        raise ValidationError("离线出库额度须是 0 到 100 亿之间、最多两位小数的金额", field="ship_credit_per_day")
    row = session.get(SitePolicy, site.id, with_for_update=True)
    new = row is None
    if row is None:  # compared against the defaults, so the first save audits only what it changes
        row = SitePolicy(org_id=actor.org_id, site_id=site.id, offline_kinds=join_kinds(DEFAULT_OFFLINE_KINDS),
                         ship_credit_per_day=None, warn_after_hours=DEFAULT_WARN_AFTER_HOURS,
                         refuse_money_after_hours=DEFAULT_REFUSE_MONEY_AFTER_HOURS)
        session.add(row)
    kinds = join_kinds(frozenset(OfflineKind(k) for k in cmd.offline_kinds))
    before, after = _changes(row, {"offline_kinds": kinds, "ship_credit_per_day": credit,
                                   "warn_after_hours": cmd.warn_after_hours,
                                   "refuse_money_after_hours": cmd.refuse_money_after_hours})
    if after:
        session.flush()
        record_audit(session, actor, "site.policy_updated", "site", site.id, before=before, after=after,
                     reason=cmd.reason)
        emit(session, actor.org_id, "site.policy_updated", {"site_id": site.id, "changed": sorted(after)})
    elif new:  # the defaults again: nothing to store
        session.expunge(row)
    return Saved(site.id, tuple(sorted(after)))


# --- members -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegisterMember:
    """A new member. A farmer (bound to their party, no other role) needs 发放绑定码 (a manager);
    any staff role needs 分配角色 (a director or admin), and nobody grants more than they hold."""

    name: str
    phone: str | None = None
    party_id: int | None = None
    roles: tuple[tuple[Role, int | None], ...] = ()


def _grantable(actor: Actor, roles: tuple[tuple[Role, int | None], ...]) -> None:
    staff = [r for r, _ in roles if r != Role.FARMER]
    actor.require(Permission.ROLES if staff else Permission.MEMBERS)
    if actor.system:
        return
    mine = {p for role, _site in actor.roles for p in ROLE_PERMISSIONS[role]}
    for role, _site in roles:
        if not ROLE_PERMISSIONS[role] <= mine:
            raise PermissionDenied("不能授予比自己更高的权限", role=role.value)


@idempotent("member.register")
def register_member(session: Session, actor: Actor, cmd: RegisterMember) -> int:
    """Add a member (a farmer for their party, or staff with roles); audited by ``create_member``."""
    if not cmd.roles:
        raise ValidationError("请至少选择一个角色", field="roles")
    _grantable(actor, cmd.roles)
    if any(r == Role.FARMER for r, _ in cmd.roles) and cmd.party_id is None:
        raise ValidationError("农户成员须关联一个往来单位（农户档案）", field="party_id")
    if cmd.party_id is not None:
        party = get_owned(session, Party, cmd.party_id, actor.org_id)
        taken = session.scalar(select(Member.id).where(Member.org_id == actor.org_id, Member.party_id == party.id,
                                                       Member.active.is_(True)))
        if taken is not None:
            raise ValidationError(f"{party.name} 已有成员账号", field="party_id")
    # create_member checks 分配角色. A farmer added by a manager has passed the narrower check above,
    # so it runs as the same member with that one right for this call: the audit row names them.
    runner = actor if actor.can(Permission.ROLES) else replace(actor, roles=((Role.ADMIN, None),))
    member_id = create_member(session, runner, CreateMember(
        name=_text(cmd.name, "name", "姓名", max_len=64), phone=_phone(cmd.phone), party_id=cmd.party_id,
        roles=cmd.roles))
    return member_id


@dataclass(frozen=True)
class UpdateMember:
    member_id: int
    name: str
    phone: str | None = None
    active: bool = True
    reason: str = ""


@idempotent("member.update")
def update_member(session: Session, actor: Actor, cmd: UpdateMember) -> Saved:
    """Rename a member, change their phone, or deactivate them (they can no longer sign in or act)."""
    actor.require(Permission.ROLES)
    member = get_owned(session, Member, cmd.member_id, actor.org_id, lock=True)
    if member.id == actor.member_id and not cmd.active:
        raise ValidationError("不能停用自己的账号", field="active")
    before, after = _changes(member, {"name": _text(cmd.name, "name", "姓名", max_len=64),
                                      "phone": _phone(cmd.phone), "active": cmd.active})
    if after:
        record_audit(session, actor, "member.updated", "member", member.id, before=before, after=after,
                     reason=cmd.reason)
        emit(session, actor.org_id, "member.updated", {"member_id": member.id, "changed": sorted(after)})
    return Saved(member.id, tuple(sorted(after)))


# --- organisation settings -------------------------------------------------------------------------

#: The org settings a manager console edits: key → (label, lowest, highest). Values are validated
#: here when saved, never first when a posting reads them.
ORG_SETTINGS: dict[str, tuple[str, Decimal, Decimal]] = {
    "binding_code_minutes": ("绑定码有效期（分钟）", Decimal(CODE_MINUTES_RANGE[0]), Decimal(CODE_MINUTES_RANGE[1])),
    "business_time_back_days": ("业务时间最多往前补录（天）", Decimal(1), Decimal(3660)),
    "receipt_review_above_base": ("单笔收货超过此数量需复核（基本单位）", Decimal("0.001"), Decimal(10) ** 9),
}
_INTEGER_SETTINGS = {"binding_code_minutes", "business_time_back_days"}


@dataclass(frozen=True)
class UpdateOrg:
    name: str
    prepayment_ratio: Decimal
    #: Each of ORG_SETTINGS: a value, or None to fall back to the default.
    settings: tuple[tuple[str, Decimal | None], ...] = ()
    reason: str = ""


@idempotent("org.update")
def update_org(session: Session, actor: Actor, cmd: UpdateOrg) -> Saved:
    """Change the organisation's name, prepayment ratio and typed settings; audited."""
    actor.require(Permission.ROLES)
    org = session.get_one(Org, actor.org_id, with_for_update=True)
    if not (cmd.prepayment_ratio.is_finite() and Decimal(0) <= cmd.prepayment_ratio <= Decimal(1)):
        raise ValidationError("预付比例应在 0 到 1 之间", field="prepayment_ratio")
    if cmd.prepayment_ratio != org.prepayment_ratio:
        actor.require(Permission.PRICES)
    settings = dict(org.settings or {})
    for key, value in cmd.settings:
        if key not in ORG_SETTINGS:
            raise ValidationError(f"未知的设置项 {key}", field=key)
        label, low, high = ORG_SETTINGS[key]
        if value is None:
            settings.pop(key, None)
            continue
        if not (value.is_finite() and low <= value <= high):
            raise ValidationError(f"{label}应在 {low} 到 {high} 之间", field=key)
        if key in _INTEGER_SETTINGS:
            if value != value.to_integral_value():
                raise ValidationError(f"{label}应为整数", field=key)
            settings[key] = int(value)
        else:
            settings[key] = str(value)
    old_settings = dict(org.settings or {})
    before, after = _changes(org, {"name": _text(cmd.name, "name", "单位名称"),
                                   "prepayment_ratio": cmd.prepayment_ratio})
    if settings != old_settings:
        before["settings"] = {k: old_settings.get(k) for k in ORG_SETTINGS}
        after["settings"] = {k: settings.get(k) for k in ORG_SETTINGS}
        org.settings = settings  # a new dict: the JSON column is written and the config version renewed
    if after:
        record_audit(session, actor, "org.updated", "org", org.id, before=before, after=after, reason=cmd.reason)
    return Saved(org.id, tuple(sorted(after)))
