"""Organisations, sites, parties and members (people with roles and chat identities)."""

from __future__ import annotations

import enum
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Money, ScaledDecimal

#: The config version of a row written without the ORM: never cached (models.catalog_snapshot).
UNVERSIONED = "0"


class Org(IdMixin, CreatedMixin, Base):
    __tablename__ = "orgs"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    #: Share of a farmer delivery's value paid at once; the balance waits for QC.
    prepayment_ratio: Mapped[Decimal] = mapped_column(ScaledDecimal(6, 4), default=Decimal("0.7"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: A new random token whenever the org's master data changes (models.catalog_snapshot keys its cache by it).
    config_version: Mapped[str] = mapped_column(String(32), default=lambda: uuid.uuid4().hex,
                                                server_default=UNVERSIONED)


class SiteKind(enum.StrEnum):
    COLLECTION_POINT = "collection_point"
    WAREHOUSE = "warehouse"
    STORE = "store"
    EDGE = "edge"
    IN_TRANSIT = "in_transit"


class Site(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[SiteKind] = mapped_column(Enum(SiteKind, native_enum=False, length=32))
    #: Negative-stock policy: most sites forbid it; a shop may allow selling ahead of receipt.
    allow_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    #: For in-transit sites: the route they stand for.
    route_from_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))
    route_to_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))
    #: For in-transit sites: the route's usual time on the road, in hours (None: not set).
    transit_hours: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OfflineKind(enum.StrEnum):
    """What a site's edge node may do while it cannot reach headquarters (issue 14)."""

    RECEIVE = "receive"
    SHIP = "ship"
    COUNT = "count"
    FREEZE = "freeze"  # a sensor's alarm freezing stock
    TRANSFER_OUT = "transfer_out"
    #: A local person deciding an approval level (a transfer, a purchase order) while offline: never by
    #: default, since headquarters may decide the same request meanwhile.
    APPROVE = "approve"


#: A site without a policy row: everything but shipping (a sale offline can sell stock twice).
DEFAULT_OFFLINE_KINDS = (OfflineKind.RECEIVE, OfflineKind.COUNT, OfflineKind.FREEZE, OfflineKind.TRANSFER_OUT)
DEFAULT_WARN_AFTER_HOURS = 24
DEFAULT_REFUSE_MONEY_AFTER_HOURS = 72


class SitePolicy(OrgMixin, Base):
    """A site's autonomy policy while its edge node is offline; no row means the defaults above."""

    __tablename__ = "site_policies"

    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"), primary_key=True)
    #: Comma-separated OfflineKind values, in their declared order ("" allows nothing offline).
    offline_kinds: Mapped[str] = mapped_column(String(64))
    #: Money value of shipments a day the node may make offline; None: no ceiling.
    ship_credit_per_day: Mapped[Decimal | None] = mapped_column(Money())
    warn_after_hours: Mapped[int] = mapped_column(Integer)
    refuse_money_after_hours: Mapped[int] = mapped_column(Integer)


class PartyKind(enum.StrEnum):
    FARMER = "farmer"
    SUPPLIER = "supplier"
    CUSTOMER = "customer"


class Party(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "parties"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    #: The golden-copy code: one per real-world farmer, supplier or customer.
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[PartyKind] = mapped_column(Enum(PartyKind, native_enum=False, length=16))
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Credit terms: an invoice-like item (shipment, receipt) falls due this many days after its date.
    credit_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Most a customer may owe (open receivables); None: no limit set.
    credit_limit: Mapped[Decimal | None] = mapped_column(Money())
    #: VAT rate that overrides the item's (a 小规模纳税人 supplier at 0.03); None: not set (models.vat).
    vat_rate: Mapped[Decimal | None] = mapped_column(ScaledDecimal(6, 4))


class Role(enum.StrEnum):
    FARMER = "farmer"
    CLERK = "clerk"
    STOREKEEPER = "storekeeper"
    MANAGER = "manager"
    DIRECTOR = "director"
    FINANCE = "finance"
    PURCHASER = "purchaser"
    QA = "qa"
    ADMIN = "admin"


#: What a role is called on cards, in chat replies and in errors.
ROLE_LABELS: dict[str, str] = {
    "farmer": "农户", "clerk": "收货员", "storekeeper": "仓管", "manager": "主管", "director": "总监",
    "finance": "财务", "purchaser": "采购", "qa": "质检", "admin": "管理员",
}


class Member(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "members"

    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    #: A farmer member acts as this party (sees only its deliveries and settlements).
    party_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("parties.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    roles: Mapped[list[MemberRole]] = relationship(lazy="selectin", cascade="all, delete-orphan")
    identities: Mapped[list[MemberIdentity]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class MemberRole(IdMixin, OrgMixin, Base):
    __tablename__ = "member_roles"
    __table_args__ = (UniqueConstraint("member_id", "role", "site_id"),)

    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16))
    #: None means every site of the organisation.
    site_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))


class IdentityProvider(enum.StrEnum):
    WECHAT_OPENID = "wechat_openid"
    WECHAT_UNIONID = "wechat_unionid"
    WECOM_USERID = "wecom_userid"
    DINGTALK_USERID = "dingtalk_userid"


class MemberIdentity(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "member_identities"
    #: One person may belong to several organisations under the same WeChat/DingTalk identity.
    __table_args__ = (UniqueConstraint("org_id", "provider", "external_id"),)

    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    provider: Mapped[IdentityProvider] = mapped_column(Enum(IdentityProvider, native_enum=False, length=24))
    external_id: Mapped[str] = mapped_column(String(128))
