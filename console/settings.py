"""设置: the organisation and its settings, sites, items with grade prices, farmers/suppliers/customers.

Pages read through models.queries.settings_lists and change through the settings operations
(models.operations.masterdata / settings_admin); members, binding codes and the audit log are in
console.settings_members. Every list downloads as .xlsx (console.settings_export).
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from console import forms
from console.blueprint import bp
from console.web import actor, call, can_anywhere, done, member_page, read_db, render
from models.actor import Permission
from models.catalog import Dimension
from models.chart import MASS_UNITS
from models.errors import NotFound, ValidationError
from models.operations.masterdata import (
    AddGrade,
    CreateItem,
    CreateParty,
    CreateSite,
    GradeSpec,
    SetGradePrice,
    add_grade,
    set_grade_price,
)
from models.operations.routes import DeclareRoute, UpdateRoute, declare_route, update_route
from models.operations.settings_admin import (
    ORG_SETTINGS,
    UpdateItem,
    UpdateOrg,
    UpdateParty,
    UpdateSite,
    UpdateSitePolicy,
    add_item,
    add_party,
    add_site,
    update_item,
    update_org,
    update_party,
    update_site,
    update_site_policy,
)
from models.operations.units import (
    AddUnit,
    RemovePack,
    RenameUnit,
    SetPack,
    add_unit,
    remove_pack,
    rename_unit,
    set_pack,
)
from models.org import OfflineKind, PartyKind, SiteKind
from models.queries import offline_policy
from models.queries import settings_lists as lists

#: Where each settings page is, in the section's own menu.
SUBNAV = (("console.settings", "单位与地点"), ("console.settings_units", "计量单位"),
          ("console.settings_items", "商品与价格"),
          ("console.settings_parties", "农户与客户"), ("console.settings_members", "成员与角色"),
          ("console.settings_audit", "审计日志"))
_SITE_KINDS = {k: v for k, v in lists.SITE_KIND_LABELS.items() if k != SiteKind.IN_TRANSIT.value}


def _context(**extra: Any) -> dict[str, Any]:
    who = actor()
    return {"sections": SUBNAV, "fresh_id": forms.new_request_id,
            "may": {p.name: can_anywhere(who, p) for p in Permission}, **extra}


# --- organisation and sites ------------------------------------------------------------------------

@bp.get("/settings")
@member_page()
def settings() -> ResponseReturnValue:
    who, db = actor(), read_db()
    org = lists.organisation(db, who) if any(who.can(p) for p in (Permission.ROLES, Permission.MEMBERS,
                                                                   Permission.PRICES)) else None
    see_sites = can_anywhere(who, Permission.VIEW_STOCK) or who.can(Permission.ROLES)
    sites = lists.sites(db, who) if see_sites else []
    routes = lists.routes(db, who) if see_sites else []
    policies = offline_policy.site_policies(db, who) if who.can(Permission.ROLES) else {}
    return render("console/settings/index.html", **_context(
        org=org, sites=sites, routes=routes, site_kinds=_SITE_KINDS, org_settings=ORG_SETTINGS,
        policies=policies, offline_kinds=offline_policy.OFFLINE_KIND_LABELS))


@bp.post("/settings/org")
@member_page(Permission.ROLES)
def settings_org() -> ResponseReturnValue:
    values = tuple((key, forms.decimal(key, label)) for key, (label, _lo, _hi) in ORG_SETTINGS.items())
    ratio = forms.decimal("prepayment_ratio", "预付比例", required=True)
    assert ratio is not None
    call(update_org, UpdateOrg(forms.text("name", "单位名称", required=True), ratio, values,
                               forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done("单位设置已保存", url_for("console.settings"))


@bp.post("/settings/sites")
@member_page(Permission.ROLES)
def settings_site_create() -> ResponseReturnValue:
    kind = request.form.get("kind", "")
    if kind not in _SITE_KINDS:
        raise ValidationError("请选择地点类型", field="kind")
    code = forms.text("code", "编码", max_len=32, required=True)
    call(add_site, CreateSite(code, forms.text("name", "名称", required=True), SiteKind(kind),
                              forms.checked("allow_negative")), key=forms.request_key())
    return done(f"地点 {code} 已添加", url_for("console.settings"))


@bp.post("/settings/sites/<int:site_id>")
@member_page(Permission.ROLES)
def settings_site_update(site_id: int) -> ResponseReturnValue:
    call(update_site, UpdateSite(site_id, forms.text("name", "名称", required=True), forms.checked("allow_negative"),
                                 forms.checked("active"), forms.text("reason", "原因", max_len=200)),
         key=forms.request_key())
    return done("地点已保存", url_for("console.settings"))


@bp.post("/settings/sites/<int:site_id>/policy")
@member_page(Permission.ROLES)
def settings_site_policy(site_id: int) -> ResponseReturnValue:
    """A site's offline autonomy policy (what its edge node may do while it cannot reach headquarters)."""
    kinds = tuple(k.value for k in OfflineKind if forms.checked(f"offline_{k.value}"))
    warn = forms.integer("warn_after_hours", "离线提醒（小时）", required=True)
    refuse = forms.integer("refuse_money_after_hours", "停办金额业务（小时）", required=True)
    assert warn is not None and refuse is not None
    saved = call(update_site_policy, UpdateSitePolicy(
        site_id, kinds, forms.decimal("ship_credit_per_day", "离线出库额度（元/天）"), warn, refuse,
        forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done("离线策略已保存" if saved.changed else "没有改动", url_for("console.settings"))


@bp.post("/settings/routes")
@member_page(Permission.ROLES)
def settings_route_create() -> ResponseReturnValue:
    """Declare a transfer route between two of the org's sites."""
    from_id = forms.integer("from_site_id", "起点", required=True)
    to_id = forms.integer("to_site_id", "终点", required=True)
    assert from_id is not None and to_id is not None
    call(declare_route, DeclareRoute(from_id, to_id, forms.integer("transit_hours", "在途时间（小时）"),
                                     forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done("调拨路线已添加", url_for("console.settings"))


@bp.post("/settings/routes/<int:route_id>")
@member_page(Permission.ROLES)
def settings_route_update(route_id: int) -> ResponseReturnValue:
    """Change a route's usual transit time, or (de)activate it."""
    hours = forms.integer("transit_hours", "在途时间（小时）")
    saved = call(update_route, UpdateRoute(route_id, hours, forms.checked("active"),
                                           forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done("调拨路线已保存" if saved.changed else "没有改动", url_for("console.settings"))


# --- units of measure and packs ----------------------------------------------------------------------

@bp.get("/settings/units")
@member_page()
def settings_units() -> ResponseReturnValue:
    """The org's units of measure, and a form to add one."""
    return render("console/settings/units.html", **_context(units=lists.units(read_db(), actor()),
                                                            dimensions=lists.DIMENSION_LABELS))


@bp.post("/settings/units")
@member_page(Permission.PRICES)
def settings_unit_create() -> ResponseReturnValue:
    """Add a unit (mass: kilograms per unit; count: 1)."""
    dimension = request.form.get("dimension", "")
    if dimension not in lists.DIMENSION_LABELS:
        raise ValidationError("请选择重量单位或件数单位", field="dimension")
    name = forms.text("name", "单位名称", max_len=16, required=True)
    factor = forms.text("factor", "换算系数", max_len=32) or "1"  # the operation reads and bounds it
    call(add_unit, AddUnit(name, Dimension(dimension), factor, forms.text("reason", "原因", max_len=200)),
         key=forms.request_key())
    return done(f"单位“{name}”已添加", url_for("console.settings_units"))


@bp.post("/settings/units/<int:unit_id>")
@member_page(Permission.PRICES)
def settings_unit_rename(unit_id: int) -> ResponseReturnValue:
    """Rename a unit nobody has used yet."""
    saved = call(rename_unit, RenameUnit(unit_id, forms.text("name", "单位名称", max_len=16, required=True),
                                         forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done("单位已改名" if saved.changed else "没有改动", url_for("console.settings_units"))


@bp.post("/settings/items/<int:item_id>/packs")
@member_page(Permission.PRICES)
def settings_pack_create(item_id: int) -> ResponseReturnValue:
    """Add a pack to an item (箱 = 20 罐)."""
    name = forms.text("name", "包装名称", max_len=16, required=True)
    call(set_pack, SetPack(item_id, name, forms.text("factor", "每包装数量", max_len=32, required=True),
                           reason=forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done(f"包装“{name}”已添加", url_for("console.settings_item", item_id=item_id))


@bp.post("/settings/items/<int:item_id>/packs/<int:pack_id>")
@member_page(Permission.PRICES)
def settings_pack_update(item_id: int, pack_id: int) -> ResponseReturnValue:
    """Rename a pack or change how many base units it holds (posted moves stay as they are)."""
    saved = call(set_pack, SetPack(item_id, forms.text("name", "包装名称", max_len=16, required=True),
                                   forms.text("factor", "每包装数量", max_len=32, required=True), pack_id,
                                   forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done("包装已保存" if saved.changed else "没有改动", url_for("console.settings_item", item_id=item_id))


@bp.post("/settings/items/<int:item_id>/packs/<int:pack_id>/remove")
@member_page(Permission.PRICES)
def settings_pack_remove(item_id: int, pack_id: int) -> ResponseReturnValue:
    """Remove a pack from an item."""
    call(remove_pack, RemovePack(pack_id, forms.text("reason", "原因", max_len=200), item_id=item_id),
         key=forms.request_key())
    return done("包装已删除", url_for("console.settings_item", item_id=item_id))


# --- items and grade prices --------------------------------------------------------------------------

@bp.get("/settings/items")
@member_page()
def settings_items() -> ResponseReturnValue:
    q = (request.args.get("q") or "")[:64]
    page = lists.items(read_db(), actor(), q=q, after_id=forms.integer("after", "页码", source="args"))
    return render("console/settings/items.html", **_context(page=page, q=q, units=list(MASS_UNITS)))


@bp.get("/settings/items/<int:item_id>")
@member_page()
def settings_item(item_id: int) -> ResponseReturnValue:
    page = lists.items(read_db(), actor(), item_id=item_id)
    if not page.rows:
        raise_not_found("商品", item_id)
    return render("console/settings/item.html", **_context(item=page.rows[0]))


def raise_not_found(label: str, obj_id: int) -> None:
    """The console's answer for an id that is not in the member's organisation."""
    raise NotFound(f"找不到{label}（编号 {obj_id}）")


def _grades() -> tuple[GradeSpec, ...]:
    specs = []
    for n in range(1, 4):
        name = forms.text(f"grade{n}", f"等级{n}名称", max_len=32)
        price = forms.decimal(f"grade{n}_price", f"等级{n}收购价")
        if name and price is None:
            raise ValidationError(f"请填写等级“{name}”的收购价", field=f"grade{n}_price")
        if name and price is not None:
            specs.append(GradeSpec(name, price, n))
    return tuple(specs)


@bp.post("/settings/items")
@member_page(Permission.PRICES)
def settings_item_create() -> ResponseReturnValue:
    dimension = request.form.get("dimension", "")
    if dimension not in (Dimension.MASS.value, Dimension.COUNT.value):
        raise ValidationError("请选择按重量或按件数", field="dimension")
    shelf = forms.integer("shelf_life_days", "保质期天数")
    code = forms.text("code", "编码", max_len=32, required=True)
    aliases = tuple(a for a in forms.text("aliases", "别名", max_len=256).replace("，", "、").split("、") if a.strip())
    item_id = call(add_item, CreateItem(
        code=code, name=forms.text("name", "名称", required=True),
        base_unit=forms.text("base_unit", "基本单位", max_len=16, required=True), dimension=Dimension(dimension),
        shelf_life_days=shelf, aliases=aliases, sale_price=forms.decimal("sale_price", "售价"), grades=_grades()),
        key=forms.request_key())
    return done(f"商品 {code} 已添加", url_for("console.settings_item", item_id=item_id))


@bp.post("/settings/items/<int:item_id>")
@member_page(Permission.PRICES)
def settings_item_update(item_id: int) -> ResponseReturnValue:
    aliases = tuple(a for a in forms.text("aliases", "别名", max_len=256).replace("，", "、").split("、") if a.strip())
    saved = call(update_item, UpdateItem(
        item_id, forms.text("name", "名称", required=True), aliases, forms.integer("shelf_life_days", "保质期天数"),
        forms.decimal("sale_price", "售价"), forms.checked("active"), forms.text("reason", "原因", max_len=200)),
        key=forms.request_key())
    return done("商品已保存" if saved.changed else "没有改动", url_for("console.settings_item", item_id=item_id))


@bp.post("/settings/items/<int:item_id>/grades")
@member_page(Permission.PRICES)
def settings_grade_create(item_id: int) -> ResponseReturnValue:
    """Give an item one more grade with its purchase price (三级 at 30 元/公斤)."""
    name = forms.text("name", "等级名称", max_len=16, required=True)
    price = forms.decimal("purchase_price", "收购价", required=True)
    assert price is not None  # required
    call(add_grade, AddGrade(item_id, name, price, forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done(f"等级“{name}”已添加", url_for("console.settings_item", item_id=item_id))


@bp.post("/settings/grades/<int:grade_id>/price")
@member_page(Permission.PRICES)
def settings_grade_price(grade_id: int) -> ResponseReturnValue:
    price = forms.decimal("purchase_price", "收购价", required=True)
    assert price is not None
    old = call(set_grade_price, SetGradePrice(grade_id, price, forms.text("reason", "原因", max_len=200,
                                                                          required=True)),
               key=forms.request_key())
    return done(f"收购价已由 ¥{old:,.2f} 改为 ¥{price:,.2f}")


# --- parties -----------------------------------------------------------------------------------------

@bp.get("/settings/parties")
@member_page()
def settings_parties() -> ResponseReturnValue:
    q = (request.args.get("q") or "")[:64]
    kind = request.args.get("kind", "")
    kind = kind if kind in lists.PARTY_KIND_LABELS else ""
    page = lists.parties(read_db(), actor(), kind=kind, q=q, after_id=forms.integer("after", "页码", source="args"))
    return render("console/settings/parties.html", **_context(page=page, q=q, kind=kind,
                                                               kinds=lists.PARTY_KIND_LABELS))


@bp.get("/settings/parties/<int:party_id>")
@member_page()
def settings_party(party_id: int) -> ResponseReturnValue:
    page = lists.parties(read_db(), actor(), party_id=party_id)
    if not page.rows:
        raise_not_found("往来单位", party_id)
    return render("console/settings/party.html", **_context(party=page.rows[0], kinds=lists.PARTY_KIND_LABELS))


@bp.post("/settings/parties")
@member_page()
def settings_party_create() -> ResponseReturnValue:
    kind = request.form.get("kind", "")
    if kind not in lists.PARTY_KIND_LABELS:
        raise ValidationError("请选择类型（农户、供货商或客户）", field="kind")
    code = forms.text("code", "编码", max_len=32, required=True)
    phone = forms.text("phone", "手机号", max_len=32) or None
    party_id = call(add_party, CreateParty(code, forms.text("name", "名称", required=True), PartyKind(kind), phone),
                    key=forms.request_key())
    return done(f"{lists.PARTY_KIND_LABELS[kind]} {code} 已添加", url_for("console.settings_party", party_id=party_id))


@bp.post("/settings/parties/<int:party_id>")
@member_page()
def settings_party_update(party_id: int) -> ResponseReturnValue:
    saved = call(update_party, UpdateParty(
        party_id, forms.text("name", "名称", required=True), forms.text("phone", "手机号", max_len=32) or None,
        forms.integer("credit_days", "账期天数") or 0, forms.decimal("credit_limit", "信用额度"),
        forms.checked("active"), forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done("已保存" if saved.changed else "没有改动", url_for("console.settings_party", party_id=party_id))


from console import imports, settings_export, settings_members  # noqa: E402, F401  (the section's other pages)
