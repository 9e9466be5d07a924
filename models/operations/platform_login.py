"""Log a platform identity in: remember its session key, bind it on first use, list its members."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.errors import DomainError
from models.miniprogram import PlatformSession
from models.operations.identity import BindByPhone, BindIdentity, bind_by_phone, bind_identity, members_for_identity
from models.org import IdentityProvider, Member, Org


class BindingRequired(DomainError):
    code = "BINDING_REQUIRED"
    http_status = 403
    default_message = "首次登录请输入合作社发给您的12位绑定码，或授权手机号"


@dataclass(frozen=True)
class PlatformLogin:
    provider: IdentityProvider
    external_id: str
    unionid: str | None = None
    session_key: str | None = field(default=None, repr=False)
    #: First login: a twelve-digit invitation code, or a phone number the platform verified.
    binding_code: str | None = None
    verified_phone: str | None = None
    #: The try claimed for ``binding_code`` (models.operations.identity.claim_binding_attempt).
    binding_attempt_id: int | None = None


@dataclass(frozen=True)
class LoginMember:
    member_id: int
    member_name: str
    org_id: int
    org_name: str
    party_id: int | None


@dataclass(frozen=True)
class LoginResult:
    members: tuple[LoginMember, ...]
    #: True when this login bound the identity to a member for the first time.
    bound_now: bool


def _remember_session(session: Session, cmd: PlatformLogin) -> None:
    row = session.scalar(select(PlatformSession).where(
        PlatformSession.provider == cmd.provider, PlatformSession.external_id == cmd.external_id))
    if row is None:
        row = PlatformSession(provider=cmd.provider, external_id=cmd.external_id)
        session.add(row)
    row.unionid = cmd.unionid or row.unionid
    row.session_key = cmd.session_key or row.session_key
    row.updated_at = utcnow()


def login_identity(session: Session, cmd: PlatformLogin) -> LoginResult:
    """Store the session key, bind by code or verified phone if given, and return the bound members."""
    if cmd.session_key is not None or cmd.unionid is not None:
        _remember_session(session, cmd)
    bound_now = False
    if cmd.binding_code:
        bind_identity(session, BindIdentity(cmd.provider, cmd.external_id, cmd.binding_code,
                                            cmd.binding_attempt_id))
        bound_now = True
    members = members_for_identity(session, cmd.provider, cmd.external_id)
    if not members and cmd.verified_phone:
        bind_by_phone(session, BindByPhone(cmd.provider, cmd.external_id, cmd.verified_phone))
        bound_now = True
        members = members_for_identity(session, cmd.provider, cmd.external_id)
    if not members:
        raise BindingRequired()
    return LoginResult(tuple(_describe(session, m) for m in members), bound_now)


def members_by_phone(session: Session, phone: str) -> LoginResult:
    """Development login: the active members registered with ``phone`` (no binding, no write)."""
    members = list(session.scalars(select(Member).where(
        Member.phone == phone.strip().removeprefix("+86"), Member.active.is_(True)).order_by(Member.org_id)))
    if not members:
        raise BindingRequired("这个手机号还没有登记", phone=phone)
    return LoginResult(tuple(_describe(session, m) for m in members), False)


def _describe(session: Session, member: Member) -> LoginMember:
    org = session.get_one(Org, member.org_id)
    return LoginMember(member.id, member.name, org.id, org.name, member.party_id)
