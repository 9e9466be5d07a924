"""Who is acting, and what their roles allow. Operations check this; channels only load it."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy.orm import Session

from models.errors import NotFound, PermissionDenied
from models.org import Member, Role


class Permission(enum.StrEnum):
    RECEIVE = "receive"
    SHIP = "ship"
    RESERVE = "reserve"
    TRANSFER_REQUEST = "transfer.request"
    TRANSFER_APPROVE = "transfer.approve"
    TRANSFER_DISPATCH = "transfer.dispatch"
    TRANSFER_RECEIVE = "transfer.receive"
    COUNT = "count"
    QC = "qc"
    FREEZE = "freeze"
    SETTLE = "settle"
    REVERSE = "reverse"
    MAPPING = "mapping"
    PRICES = "prices"
    ROLES = "roles"
    MEMBERS = "members"
    ORDER_PURCHASE = "order.purchase"
    ORDER_SALES = "order.sales"
    VIEW_STOCK = "view.stock"
    VIEW_FINANCE = "view.finance"
    PLAN = "plan"
    #: Read the organisation's automation: rules (and their sandbox), chains, dead letters, webhook logs, health.
    RULES = "rules"
    #: Enter a business time older than the organisation's window (late paperwork, corrections).
    BACKDATE = "backdate"
    #: 结账: close an accounting period (checks, closing voucher, lock).
    CLOSE_PERIOD = "period.close"
    #: 反结账: reopen a closed period (director level: it unlocks books others rely on).
    REOPEN_PERIOD = "period.reopen"


_P = Permission
_FLOOR = {_P.RECEIVE, _P.SHIP, _P.RESERVE, _P.TRANSFER_REQUEST, _P.TRANSFER_DISPATCH,
          _P.TRANSFER_RECEIVE, _P.COUNT, _P.VIEW_STOCK}

#: What each role may do. Admin and director may do everything.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.FARMER: frozenset(),
    Role.CLERK: frozenset(_FLOOR | {_P.ORDER_SALES}),
    Role.STOREKEEPER: frozenset(_FLOOR | {_P.FREEZE, _P.QC}),
    Role.QA: frozenset({_P.QC, _P.FREEZE, _P.VIEW_STOCK}),
    Role.PURCHASER: frozenset({_P.ORDER_PURCHASE, _P.RECEIVE, _P.VIEW_STOCK, _P.PLAN}),
    Role.MANAGER: frozenset(_FLOOR | {_P.TRANSFER_APPROVE, _P.FREEZE, _P.QC, _P.REVERSE, _P.PRICES,
                                      _P.ORDER_PURCHASE, _P.ORDER_SALES, _P.MEMBERS, _P.PLAN, _P.RULES}),
    Role.FINANCE: frozenset({_P.SETTLE, _P.REVERSE, _P.MAPPING, _P.VIEW_FINANCE, _P.VIEW_STOCK, _P.BACKDATE,
                                    _P.CLOSE_PERIOD}),
    Role.DIRECTOR: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
}

PERMISSION_LABELS: dict[Permission, str] = {
    _P.RECEIVE: "收货入库", _P.SHIP: "出库", _P.RESERVE: "预留库存", _P.TRANSFER_REQUEST: "申请调拨",
    _P.TRANSFER_APPROVE: "审批调拨", _P.TRANSFER_DISPATCH: "调拨发货", _P.TRANSFER_RECEIVE: "调拨收货",
    _P.COUNT: "盘点", _P.QC: "质检", _P.FREEZE: "冻结库存", _P.SETTLE: "结算付款", _P.REVERSE: "冲销单据",
    _P.MAPPING: "修改记账规则", _P.PRICES: "修改价格", _P.ROLES: "分配角色", _P.MEMBERS: "发放绑定码",
    _P.ORDER_PURCHASE: "采购下单",
    _P.ORDER_SALES: "销售下单", _P.VIEW_STOCK: "查看库存", _P.VIEW_FINANCE: "查看财务",
    _P.PLAN: "需求计划与补货", _P.RULES: "查看规则与事件日志", _P.BACKDATE: "补录早于期限的业务",
    _P.CLOSE_PERIOD: "结账", _P.REOPEN_PERIOD: "反结账",
}


@dataclass(frozen=True)
class Actor:
    """The person (or system process) on whose behalf an operation runs."""

    org_id: int
    member_id: int | None
    name: str = ""
    #: (role, site_id) pairs; site None means every site.
    roles: tuple[tuple[Role, int | None], ...] = ()
    #: Farmers act as their party and see only its documents.
    party_id: int | None = None
    #: Workers, devices and rules: every permission within the organisation.
    system: bool = False

    @classmethod
    def system_actor(cls, org_id: int, name: str = "系统") -> Actor:
        """Return the actor for workers, devices and rule actions."""
        return cls(org_id=org_id, member_id=None, name=name, system=True)

    def can(self, permission: Permission, site_id: int | None = None) -> bool:
        """Tell whether any role allows ``permission`` at ``site_id`` (None: not site-bound)."""
        if self.system:
            return True
        for role, role_site in self.roles:
            if permission in ROLE_PERMISSIONS[role] and (
                role_site is None or site_id is None or role_site == site_id
            ):
                return True
        return False

    def require(self, permission: Permission, site_id: int | None = None) -> None:
        """Raise PermissionDenied unless the actor may do ``permission`` there."""
        if not self.can(permission, site_id):
            raise PermissionDenied(
                f"没有权限：{PERMISSION_LABELS[permission]}", permission=permission.value, site_id=site_id
            )

    def site_ids(self, permission: Permission) -> set[int] | None:
        """Return the sites where ``permission`` holds, or None for every site."""
        if self.system:
            return None
        sites: set[int] = set()
        for role, role_site in self.roles:
            if permission in ROLE_PERMISSIONS[role]:
                if role_site is None:
                    return None
                sites.add(role_site)
        return sites


def load_actor(session: Session, member_id: int) -> Actor:
    """Build the actor for an active member from the database."""
    member = session.get(Member, member_id)
    if member is None or not member.active:
        raise NotFound("找不到该成员或已停用", member_id=member_id)
    return Actor(
        org_id=member.org_id,
        member_id=member.id,
        name=member.name,
        roles=tuple((r.role, r.site_id) for r in member.roles),
        party_id=member.party_id,
    )
