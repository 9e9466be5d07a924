"""Master data and members over HTTP, beside the console's 设置 and 导入导出 pages: the same queries
(models.queries.settings_lists, audit_log) and operations (masterdata, settings_admin,
masterdata_import). Binding codes are issued by miniprogram_api.bindings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from flask_openapi3 import FileStorage
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import out_model
from miniprogram_api.skeleton import (
    Anyone,
    Ctx,
    Number,
    PlanDate,
    QueryId,
    Rendered,
    StrictId,
    api_blueprint,
    endpoint,
)
from models.actor import Permission
from models.catalog import Dimension
from models.errors import ValidationError
from models.operations.masterdata import (
    AddGrade,
    AssignRole,
    CreateItem,
    CreateParty,
    CreateSite,
    GradeSpec,
    SetGradePrice,
    add_grade,
    assign_role,
    set_grade_price,
)
from models.operations.masterdata_import import (
    MAX_BYTES,
    ImportKind,
    ImportMasterData,
    MasterDataReport,
    import_master_data,
)
from models.operations.routes import TRANSIT_HOURS_MAX, DeclareRoute, UpdateRoute, declare_route, update_route
from models.operations.settings_admin import (
    ORG_SETTINGS,
    RegisterMember,
    Saved,
    UpdateItem,
    UpdateMember,
    UpdateOrg,
    UpdateParty,
    UpdateSite,
    UpdateSitePolicy,
    add_item,
    add_party,
    add_site,
    register_member,
    update_item,
    update_member,
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
from models.org import PartyKind, Role, SiteKind
from models.queries import offline_policy
from models.queries import settings_lists as lists
from models.queries.audit_log import audit_entries

api = api_blueprint("settings_admin", __name__, "/api/v1/settings", "设置")

#: Reads: each query checks its own permission (items: 查看库存 or 修改价格; members: 发放绑定码 or 分配角色 …).
_QUERY_CHECKS = Anyone("各列表的读取权限由对应查询检查（models.queries.settings_lists / audit_log）")
#: Creating a party: the operation decides by kind (customer: 销售下单, farmer/supplier: 采购下单).
_BY_KIND = Anyone("按往来单位类型在操作中检查：客户需销售下单，农户/供货商需采购下单")
#: Adding a member: a farmer needs 发放绑定码, staff 分配角色 (checked in register_member).
_BY_ROLE = Anyone("农户成员需发放绑定码权限，员工需分配角色权限，均在 register_member 中检查")

#: An import runs the same checks as adding each row (items: 修改价格; parties: by kind; opening
#: stock: 修改价格 and 收货入库 at each row's site).
_IMPORT_CHECKS = Anyone("与逐行新增相同：商品需修改价格，往来单位按类型需采购/销售下单，"
                        "期初库存需在该站点有修改价格和收货入库权限，在导入操作中检查")

SavedOut = out_model(Saved)
Text = Field(min_length=1, max_length=128)
Reason = Field("", max_length=200)
Price = Field(ge=0, le=Decimal(10) ** 10)
OptionalPrice = Field(None, ge=0, le=Decimal(10) ** 10)


class PageQuery(BaseModel):
    q: str = Field("", max_length=64, description="编码、名称等包含的文字")
    after_id: QueryId | None = Field(None, description="上一页最后一行的 id（翻页）")


class PartyQuery(PageQuery):
    kind: Literal["", "farmer", "supplier", "customer"] = ""


class IdPath(BaseModel):
    id: StrictId


def _page(page: lists.Page) -> dict[str, Any]:
    return {"rows": page.rows, "next_after": page.next_after}


# --- sites ----------------------------------------------------------------------------------------

class SiteIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str = Text
    kind: Literal["collection_point", "warehouse", "store", "edge"]
    allow_negative: bool = False


class SiteEdit(BaseModel):
    name: str = Text
    allow_negative: bool = False
    active: bool = True
    reason: str = Reason


@endpoint(api.get, "/sites", permission=_QUERY_CHECKS)
def get_sites(ctx: Ctx) -> Any:
    """The organisation's sites."""
    return {"rows": lists.sites(ctx.session, ctx.actor), "next_after": None}


@endpoint(api.post, "/sites", permission=Permission.ROLES, status=201)
def post_site(ctx: Ctx, body: SiteIn) -> Any:
    """Add a site (collection point, warehouse, store, edge box)."""
    return {"id": ctx.call(add_site, CreateSite(body.code, body.name, SiteKind(body.kind), body.allow_negative))}


@endpoint(api.put, "/sites/<int:id>", permission=Permission.ROLES, response=SavedOut)
def put_site(ctx: Ctx, path: IdPath, body: SiteEdit) -> Any:
    """Rename a site, change its negative-stock policy or deactivate it (audited)."""
    return ctx.call(update_site, UpdateSite(path.id, body.name, body.allow_negative, body.active, body.reason))


class SitePolicyIn(BaseModel):
    offline_kinds: list[Literal["receive", "ship", "count", "freeze", "transfer_out", "approve"]] = Field(
        max_length=6, description="节点离线时允许办理的业务：收货、出库、盘点、传感器冻结、调出、本地审批")
    ship_credit_per_day: Number | None = Field(None, ge=0, le=Decimal(10) ** 10,
                                               description="离线出库每天的金额上限（元），不填为不限")
    warn_after_hours: int = Field(24, ge=1, le=720, description="离线超过多少小时提醒")
    refuse_money_after_hours: int = Field(72, ge=1, le=720,
                                          description="离线超过多少小时停办收货、出库等涉及金额的业务")
    reason: str = Reason


def _policy_out(policy: offline_policy.Policy) -> dict[str, Any]:
    return {"site_id": policy.site_id, "offline_kinds": [k.value for k in policy.offline_kinds],
            "ship_credit_per_day": policy.ship_credit_per_day, "warn_after_hours": policy.warn_after_hours,
            "refuse_money_after_hours": policy.refuse_money_after_hours, "default": not policy.own}


@endpoint(api.get, "/sites/<int:id>/policy", permission=Permission.ROLES)
def get_site_policy(ctx: Ctx, path: IdPath) -> Any:
    """A site's offline autonomy policy (the defaults when it has none of its own)."""
    return _policy_out(offline_policy.policy_for(ctx.session, ctx.actor, path.id))


@endpoint(api.put, "/sites/<int:id>/policy", permission=Permission.ROLES, response=SavedOut)
def put_site_policy(ctx: Ctx, path: IdPath, body: SitePolicyIn) -> Any:
    """Set what a site's edge node may do offline and for how long (audited)."""
    return ctx.call(update_site_policy, UpdateSitePolicy(
        path.id, tuple(body.offline_kinds), body.ship_credit_per_day, body.warn_after_hours,
        body.refuse_money_after_hours, body.reason))


# --- items ----------------------------------------------------------------------------------------

class GradeIn(BaseModel):
    name: str = Field(min_length=1, max_length=32)
    purchase_price: Number = Price


class ItemIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str = Text
    base_unit: str = Field(min_length=1, max_length=16)
    dimension: Literal["mass", "count"] = "mass"
    shelf_life_days: int | None = Field(None, ge=1, le=36500)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    sale_price: Number | None = OptionalPrice
    grades: list[GradeIn] = Field(default_factory=list, max_length=20)


class ItemEdit(BaseModel):
    name: str = Text
    aliases: list[str] = Field(default_factory=list, max_length=20)
    shelf_life_days: int | None = Field(None, ge=1, le=36500)
    sale_price: Number | None = OptionalPrice
    active: bool = True
    reason: str = Reason


class PriceIn(BaseModel):
    purchase_price: Number = Price
    reason: str = Field(min_length=1, max_length=200)


@endpoint(api.get, "/items", permission=_QUERY_CHECKS)
def get_items(ctx: Ctx, query: PageQuery) -> Any:
    """A page of items with grades and packs (50 rows; ``next_after`` pages on)."""
    return _page(lists.items(ctx.session, ctx.actor, q=query.q, after_id=query.after_id))


@endpoint(api.post, "/items", permission=Permission.PRICES, status=201)
def post_item(ctx: Ctx, body: ItemIn) -> Any:
    """Add an item with its grades and purchase prices."""
    cmd = CreateItem(code=body.code, name=body.name, base_unit=body.base_unit, dimension=Dimension(body.dimension),
                     shelf_life_days=body.shelf_life_days, aliases=tuple(body.aliases), sale_price=body.sale_price,
                     grades=tuple(GradeSpec(g.name, g.purchase_price, n) for n, g in enumerate(body.grades, 1)))
    return {"id": ctx.call(add_item, cmd)}


@endpoint(api.put, "/items/<int:id>", permission=Permission.PRICES, response=SavedOut)
def put_item(ctx: Ctx, path: IdPath, body: ItemEdit) -> Any:
    """Change an item's name, aliases, shelf life, sale price or deactivate it (audited)."""
    return ctx.call(update_item, UpdateItem(path.id, body.name, tuple(body.aliases), body.shelf_life_days,
                                            body.sale_price, body.active, body.reason))


@endpoint(api.put, "/grades/<int:id>/price", permission=Permission.PRICES)
def put_grade_price(ctx: Ctx, path: IdPath, body: PriceIn) -> Any:
    """Change a grade's purchase price (audited with the reason); answers the old price."""
    return {"previous": ctx.call(set_grade_price, SetGradePrice(path.id, body.purchase_price, body.reason))}


class NewGradeIn(BaseModel):
    name: str = Field(min_length=1, max_length=16)
    purchase_price: Number = Price
    reason: str = Field("", max_length=200)


@endpoint(api.post, "/items/<int:id>/grades", permission=Permission.PRICES, status=201)
def post_grade(ctx: Ctx, path: IdPath, body: NewGradeIn) -> Any:
    """Give an item one more grade with its purchase price (audited); answers the grade's id."""
    return {"id": ctx.call(add_grade, AddGrade(path.id, body.name, body.purchase_price, body.reason))}


# --- units and packs -------------------------------------------------------------------------------

class UnitIn(BaseModel):
    name: str = Field(min_length=1, max_length=16)
    dimension: Literal["mass", "count"] = "mass"
    #: As typed: the operation reads and bounds it (> 0, six decimals), so every channel refuses alike.
    factor: str = Field("1", max_length=32, description="重量单位：每单位多少公斤（如 20）；件数单位不填")
    reason: str = Reason


class UnitRename(BaseModel):
    name: str = Field(min_length=1, max_length=16)
    reason: str = Reason


class PackIn(BaseModel):
    name: str = Field(min_length=1, max_length=16)
    factor: str = Field(max_length=32, description="一个包装装多少基本单位（如 20）")
    reason: str = Reason


class PackPath(BaseModel):
    item_id: StrictId
    pack_id: StrictId


class PackRemove(BaseModel):
    reason: str = Reason


@endpoint(api.get, "/units", permission=_QUERY_CHECKS)
def get_units(ctx: Ctx) -> Any:
    """The organisation's units of measure (mass units with kilograms per unit)."""
    return {"rows": lists.units(ctx.session, ctx.actor), "next_after": None}


@endpoint(api.post, "/units", permission=Permission.PRICES, status=201)
def post_unit(ctx: Ctx, body: UnitIn) -> Any:
    """Add a unit (筐 = 20 公斤): quantities in it are then accepted for every mass item (audited)."""
    return {"id": ctx.call(add_unit, AddUnit(body.name, Dimension(body.dimension), body.factor, body.reason))}


@endpoint(api.put, "/units/<int:id>", permission=Permission.PRICES, response=SavedOut)
def put_unit(ctx: Ctx, path: IdPath, body: UnitRename) -> Any:
    """Rename a unit nobody has used yet (UNIT_IN_USE otherwise; audited)."""
    return ctx.call(rename_unit, RenameUnit(path.id, body.name, body.reason))


@endpoint(api.post, "/items/<int:id>/packs", permission=Permission.PRICES, status=201, response=SavedOut)
def post_pack(ctx: Ctx, path: IdPath, body: PackIn) -> Any:
    """Add a pack to an item (箱 = 20 罐; audited)."""
    return ctx.call(set_pack, SetPack(path.id, body.name, body.factor, reason=body.reason))


@endpoint(api.put, "/items/<int:item_id>/packs/<int:pack_id>", permission=Permission.PRICES, response=SavedOut)
def put_pack(ctx: Ctx, path: PackPath, body: PackIn) -> Any:
    """Rename a pack or change its factor; posted stock moves (in base units) stay as they are."""
    return ctx.call(set_pack, SetPack(path.item_id, body.name, body.factor, path.pack_id, body.reason))


@endpoint(api.post, "/items/<int:item_id>/packs/<int:pack_id>/remove", permission=Permission.PRICES,
          response=SavedOut)
def remove_item_pack(ctx: Ctx, path: PackPath, body: PackRemove) -> Any:
    """Remove a pack: new entries can no longer use it (audited)."""
    return ctx.call(remove_pack, RemovePack(path.pack_id, body.reason, item_id=path.item_id))


# --- transfer routes -------------------------------------------------------------------------------

TransitHours = Field(None, ge=1, le=TRANSIT_HOURS_MAX, description="通常在途时间（小时）")


class RouteIn(BaseModel):
    from_site_id: StrictId
    to_site_id: StrictId
    transit_hours: int | None = TransitHours
    reason: str = Reason


class RouteEdit(BaseModel):
    transit_hours: int | None = TransitHours
    active: bool = True
    reason: str = Reason


@endpoint(api.get, "/routes", permission=_QUERY_CHECKS)
def get_routes(ctx: Ctx) -> Any:
    """The organisation's transfer routes with their transit time and state."""
    return {"rows": lists.routes(ctx.session, ctx.actor), "next_after": None}


@endpoint(api.post, "/routes", permission=Permission.ROLES, status=201)
def post_route(ctx: Ctx, body: RouteIn) -> Any:
    """Declare a transfer route between two of the organisation's sites (audited)."""
    return {"id": ctx.call(declare_route, DeclareRoute(body.from_site_id, body.to_site_id, body.transit_hours,
                                                       body.reason))}


@endpoint(api.put, "/routes/<int:id>", permission=Permission.ROLES, response=SavedOut)
def put_route(ctx: Ctx, path: IdPath, body: RouteEdit) -> Any:
    """Change a route's transit time or (de)activate it; a deactivated route refuses new transfers."""
    return ctx.call(update_route, UpdateRoute(path.id, body.transit_hours, body.active, body.reason))


# --- parties --------------------------------------------------------------------------------------

class PartyIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str = Text
    kind: Literal["farmer", "supplier", "customer"]
    phone: str | None = Field(None, max_length=32)


class PartyEdit(BaseModel):
    name: str = Text
    phone: str | None = Field(None, max_length=32)
    credit_days: int = Field(0, ge=0, le=3650)
    credit_limit: Number | None = OptionalPrice
    active: bool = True
    reason: str = Reason


@endpoint(api.get, "/parties", permission=_QUERY_CHECKS)
def get_parties(ctx: Ctx, query: PartyQuery) -> Any:
    """A page of farmers, suppliers and customers."""
    return _page(lists.parties(ctx.session, ctx.actor, kind=query.kind, q=query.q, after_id=query.after_id))


@endpoint(api.post, "/parties", permission=_BY_KIND, status=201)
def post_party(ctx: Ctx, body: PartyIn) -> Any:
    """Add a farmer, supplier or customer under its one golden code."""
    return {"id": ctx.call(add_party, CreateParty(body.code, body.name, PartyKind(body.kind), body.phone))}


@endpoint(api.put, "/parties/<int:id>", permission=_BY_KIND, response=SavedOut)
def put_party(ctx: Ctx, path: IdPath, body: PartyEdit) -> Any:
    """Change a party's name, phone, credit terms (修改价格) or deactivate it (audited)."""
    return ctx.call(update_party, UpdateParty(path.id, body.name, body.phone, body.credit_days, body.credit_limit,
                                              body.active, body.reason))


# --- members --------------------------------------------------------------------------------------

RoleName = Literal["farmer", "clerk", "storekeeper", "manager", "director", "finance", "purchaser", "qa", "admin"]


class RoleIn(BaseModel):
    role: RoleName
    site_id: StrictId | None = None


class MemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    phone: str | None = Field(None, max_length=32)
    party_id: StrictId | None = None
    roles: list[RoleIn] = Field(min_length=1, max_length=20)


class MemberEdit(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    phone: str | None = Field(None, max_length=32)
    active: bool = True
    reason: str = Reason


class RoleChange(RoleIn):
    revoke: bool = False


@endpoint(api.get, "/members", permission=_QUERY_CHECKS)
def get_members(ctx: Ctx, query: PageQuery) -> Any:
    """A page of members with roles and how many accounts each has bound."""
    return _page(lists.members(ctx.session, ctx.actor, q=query.q, after_id=query.after_id))


@endpoint(api.post, "/members", permission=_BY_ROLE, status=201)
def post_member(ctx: Ctx, body: MemberIn) -> Any:
    """Add a member: a farmer for their party, or staff with roles; then issue a binding code
    (POST /api/v1/members/{id}/binding-codes)."""
    roles = tuple((Role(r.role), r.site_id) for r in body.roles)
    return {"id": ctx.call(register_member, RegisterMember(body.name, body.phone, body.party_id, roles))}


@endpoint(api.put, "/members/<int:id>", permission=Permission.ROLES, response=SavedOut)
def put_member(ctx: Ctx, path: IdPath, body: MemberEdit) -> Any:
    """Rename a member, change their phone or deactivate them (audited)."""
    return ctx.call(update_member, UpdateMember(path.id, body.name, body.phone, body.active, body.reason))


@endpoint(api.post, "/members/<int:id>/roles", permission=Permission.ROLES)
def post_member_role(ctx: Ctx, path: IdPath, body: RoleChange) -> Any:
    """Grant or revoke a role at a site (audited); answers the member's roles after."""
    return {"roles": ctx.call(assign_role, AssignRole(path.id, Role(body.role), body.site_id, body.revoke))}


# --- organisation, audit log ----------------------------------------------------------------------

class OrgEdit(BaseModel):
    name: str = Text
    prepayment_ratio: Number = Field(ge=0, le=1)
    settings: dict[Literal["binding_code_minutes", "business_time_back_days", "receipt_review_above_base"],
                   Number | None] = Field(default_factory=dict)
    reason: str = Reason


@endpoint(api.get, "/org", permission=_QUERY_CHECKS, response=out_model(lists.OrgView))
def get_org(ctx: Ctx) -> Any:
    """The organisation's name, prepayment ratio and settings."""
    return lists.organisation(ctx.session, ctx.actor)


@endpoint(api.put, "/org", permission=Permission.ROLES, response=SavedOut)
def put_org(ctx: Ctx, body: OrgEdit) -> Any:
    """Change the organisation's name, prepayment ratio (修改价格) and settings (audited)."""
    values = tuple((k, body.settings[k]) for k in ORG_SETTINGS if k in body.settings)
    return ctx.call(update_org, UpdateOrg(body.name, body.prepayment_ratio, values, body.reason))


class AuditQuery(BaseModel):
    actor_id: QueryId | None = None
    action: str = Field("", max_length=48, description="事项代码或前缀，如 member.")
    entity_id: str = Field("", max_length=64)
    since: PlanDate | None = None
    until: PlanDate | None = None
    before_id: QueryId | None = Field(None, description="上一页最后一行的 id（翻页，越来越早）")


@endpoint(api.get, "/audit", permission=_QUERY_CHECKS)
def get_audit(ctx: Ctx, query: AuditQuery) -> Any:
    """The audit log, newest first, filtered by who, what, which record and date range."""
    page = audit_entries(ctx.session, ctx.actor, actor_id=query.actor_id, action=query.action,
                         entity_id=query.entity_id, since=query.since, until=query.until, before_id=query.before_id)
    return {"rows": page.rows, "next_after": page.next_after}


# --- imports --------------------------------------------------------------------------------------

class ImportPath(BaseModel):
    kind: Literal["items", "parties", "opening_stock"] = Field(description="商品、往来单位或期初库存")


class ImportForm(BaseModel):
    file: FileStorage
    dry_run: bool = Field(False, description="true：只校验，不写入")


@endpoint(api.post, "/imports/<kind>", permission=_IMPORT_CHECKS, response=out_model(MasterDataReport), status=201)
def post_import(ctx: Ctx, path: ImportPath, form: ImportForm) -> Any:
    """Upload items, parties or opening stock (期初库存: one 期初入库 document per site) as .xlsx: every
    row is checked; all are written or none (422 with a report naming each bad row and column).
    ``dry_run`` only checks."""
    content = form.file.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        raise ValidationError(f"文件不能超过 {MAX_BYTES // (1024 * 1024)}MB", field="file")
    report = ctx.call(import_master_data, ImportMasterData(ImportKind(path.kind), content,
                                                           (form.file.filename or "")[:200], form.dry_run))
    return Rendered(report, 200) if form.dry_run else report
