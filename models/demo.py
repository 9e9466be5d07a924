"""The demo organisation: a tea co-operative, created through the operations themselves."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor
from models.catalog import Dimension, Grade
from models.operations import (
    CreateItem,
    CreateMember,
    CreateOrg,
    CreateParty,
    CreateSite,
    GradeSpec,
    create_item,
    create_member,
    create_org,
    create_party,
    create_site,
)
from models.org import IdentityProvider, Org, PartyKind, Role, SiteKind

DEMO_CODE = "demo-tea"


@dataclass(frozen=True)
class DemoOrg:
    org_id: int
    sites: dict[str, int]
    items: dict[str, int]
    grades: dict[str, int]
    parties: dict[str, int]
    members: dict[str, int]


def seed_demo(session: Session, code: str = DEMO_CODE, name: str = "龙井山茶叶专业合作社") -> DemoOrg:
    """Create the demo tea co-operative (sites, items, grades, farmers, staff)."""
    org_id = create_org(session, CreateOrg(code=code, name=name, prepayment_ratio=Decimal("0.7")))
    root = Actor.system_actor(org_id, "初始化")
    sites = {
        "SX": create_site(session, root, CreateSite("SX", "绍兴收购点", SiteKind.COLLECTION_POINT)),
        "ZC": create_site(session, root, CreateSite("ZC", "总仓", SiteKind.WAREHOUSE)),
        "MD": create_site(session, root, CreateSite("MD", "门店", SiteKind.STORE)),
    }
    leaf = create_item(session, root, CreateItem(
        code="CQ", name="茶青", base_unit="公斤", dimension=Dimension.MASS, shelf_life_days=3,
        aliases=("鲜叶", "茶叶青"),
        grades=(GradeSpec("特级", Decimal("120"), 1), GradeSpec("一级", Decimal("80"), 2),
                GradeSpec("二级", Decimal("50"), 3)),
    ))
    jar = create_item(session, root, CreateItem(
        code="LJ250", name="龙井 250g 罐", base_unit="罐", dimension=Dimension.COUNT, shelf_life_days=540,
        aliases=("龙井", "龙井罐"), sale_price=Decimal("168"), packs=(("箱", Decimal(20)),),
    ))
    grades = {g.name: g.id for g in session.scalars(select(Grade).where(Grade.item_id == leaf))}
    parties = {
        "王阿姨": create_party(session, root, CreateParty("F001", "王阿姨", PartyKind.FARMER, "13800000001")),
        "李大伯": create_party(session, root, CreateParty("F002", "李大伯", PartyKind.FARMER, "13800000002")),
        "陈小芳": create_party(session, root, CreateParty("F003", "陈小芳", PartyKind.FARMER, "13800000003")),
        "杭州茶城": create_party(session, root, CreateParty("C001", "杭州茶城", PartyKind.CUSTOMER)),
        "包装厂": create_party(session, root, CreateParty("S001", "新昌包装厂", PartyKind.SUPPLIER)),
    }
    members = {
        "王阿姨": create_member(session, root, CreateMember(
            "王阿姨", "13800000001", parties["王阿姨"], ((Role.FARMER, None),),
            ((IdentityProvider.WECHAT_OPENID, "demo-openid-wang"),))),
        "小周": create_member(session, root, CreateMember(
            "小周", "13900000001", None, ((Role.CLERK, sites["SX"]),),
            ((IdentityProvider.WECOM_USERID, "zhou"),))),
        "老孙": create_member(session, root, CreateMember(
            "老孙", "13900000002", None, ((Role.STOREKEEPER, sites["ZC"]), (Role.STOREKEEPER, sites["MD"])),
            ((IdentityProvider.DINGTALK_USERID, "sun"),))),
        "赵经理": create_member(session, root, CreateMember(
            "赵经理", "13900000003", None, ((Role.MANAGER, None),), ((IdentityProvider.DINGTALK_USERID, "zhao"),))),
        "钱总监": create_member(session, root, CreateMember(
            "钱总监", "13900000004", None, ((Role.DIRECTOR, None),), ((IdentityProvider.DINGTALK_USERID, "qian"),))),
        "吴会计": create_member(session, root, CreateMember(
            "吴会计", "13900000005", None, ((Role.FINANCE, None),), ())),
    }
    return DemoOrg(org_id, sites, {"茶青": leaf, "龙井": jar}, grades, parties, members)


def demo_exists(session: Session, code: str = DEMO_CODE) -> bool:
    """Tell whether the demo organisation is already loaded."""
    return session.scalar(select(Org.id).where(Org.code == code)) is not None
