"""Bind WeChat, WeCom and DingTalk identities to members: by one-time code or registered phone."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.errors import ValidationError
from models.identity import BindingCode
from models.lookup import get_owned
from models.org import IdentityProvider, Member, MemberIdentity
from models.outbox import emit

CODE_LIFETIME = timedelta(hours=24)


class BindingCodeInvalid(ValidationError):
    code = "BINDING_CODE_INVALID"
    default_message = "绑定码无效或已过期，请向管理员重新索取"


class PhoneNotRegistered(ValidationError):
    code = "PHONE_NOT_REGISTERED"
    http_status = 404
    default_message = "这个手机号还没有登记，请联系合作社管理员"


@dataclass(frozen=True)
class IssueBindingCode:
    member_id: int


@dataclass(frozen=True)
class IssuedCode:
    member_id: int
    code: str
    expires_at: datetime


def issue_binding_code(session: Session, actor: Actor, cmd: IssueBindingCode) -> IssuedCode:
    """Issue a one-time code for a member (a manager for anyone, a member for themself)."""
    member = get_owned(session, Member, cmd.member_id, actor.org_id)
    if member.id != actor.member_id:
        actor.require(Permission.MEMBERS)
    now = utcnow()
    active = select(BindingCode.code).where(BindingCode.used_at.is_(None), BindingCode.expires_at > now)
    taken = set(session.scalars(active))
    code = next(c for c in (f"{secrets.randbelow(10**6):06d}" for _ in range(100)) if c not in taken)
    row = BindingCode(org_id=actor.org_id, member_id=member.id, code=code, expires_at=now + CODE_LIFETIME,
                      issued_by=actor.member_id)
    session.add(row)
    return IssuedCode(member.id, code, row.expires_at)


@dataclass(frozen=True)
class BindIdentity:
    provider: IdentityProvider
    external_id: str
    code: str


@dataclass(frozen=True)
class Binding:
    org_id: int
    member_id: int
    member_name: str


def _bind(session: Session, member: Member, provider: IdentityProvider, external_id: str, how: str) -> Binding:
    exists = session.scalar(select(MemberIdentity).where(
        MemberIdentity.org_id == member.org_id, MemberIdentity.provider == provider,
        MemberIdentity.external_id == external_id))
    if exists is not None and exists.member_id != member.id:
        raise ValidationError("这个账号已绑定到本单位的其他成员", field="external_id")
    if exists is None:
        session.add(MemberIdentity(org_id=member.org_id, member_id=member.id, provider=provider,
                                   external_id=external_id))
        record_audit(session, Actor(org_id=member.org_id, member_id=member.id, name=member.name),
                     "member.identity_bound", "member", member.id, before=None,
                     after={"provider": provider.value, "external_id": external_id, "how": how})
        emit(session, member.org_id, "member.identity_bound", {"member_id": member.id, "provider": provider.value})
    return Binding(member.org_id, member.id, member.name)


def bind_identity(session: Session, cmd: BindIdentity) -> Binding:
    """Bind an identity with a one-time code; a wrong, used or expired code binds nothing."""
    code = cmd.code.strip()
    if not (len(code) == 6 and code.isdigit()) or not cmd.external_id:
        raise BindingCodeInvalid()
    now = utcnow()
    row = session.scalar(select(BindingCode).where(
        BindingCode.code == code, BindingCode.used_at.is_(None), BindingCode.expires_at > now,
    ).with_for_update())
    if row is None:
        raise BindingCodeInvalid()
    member = session.get_one(Member, row.member_id)
    if not member.active:
        raise BindingCodeInvalid()
    row.used_at, row.used_by = now, f"{cmd.provider.value}:{cmd.external_id}"
    return _bind(session, member, cmd.provider, cmd.external_id, "code")


@dataclass(frozen=True)
class BindByPhone:
    provider: IdentityProvider
    external_id: str
    #: A phone number the platform has verified (WeChat getPhoneNumber, DingTalk user info).
    phone: str


def bind_by_phone(session: Session, cmd: BindByPhone) -> list[Binding]:
    """Bind an identity to every active member registered with this (verified) phone number."""
    phone = cmd.phone.strip().removeprefix("+86")
    members = list(session.scalars(select(Member).where(Member.phone == phone, Member.active.is_(True))))
    if not members:
        raise PhoneNotRegistered(phone=phone)
    return [_bind(session, m, cmd.provider, cmd.external_id, "phone") for m in members]


def members_for_identity(session: Session, provider: IdentityProvider, external_id: str) -> list[Member]:
    """Return the active members (one per organisation) bound to an identity."""
    return list(session.scalars(
        select(Member).join(MemberIdentity, MemberIdentity.member_id == Member.id).where(
            MemberIdentity.provider == provider, MemberIdentity.external_id == external_id,
            Member.active.is_(True)).order_by(Member.org_id)))
