"""Bind WeChat, WeCom and DingTalk identities to members: by one-time code or registered phone.

Codes are twelve digits shown in groups of four ("4821 7730 1956"): about 40 bits, typed on the
digit pad every phone keyboard (also the nine-key pinyin pad farmers use) has, and easy to read
aloud over the phone; letters would need a keyboard switch in a Chinese IME and invite O/0, l/1
mix-ups. Only their SHA-256 is stored; they live 30 minutes (an org may set 5–1440 in
``org.settings["binding_code_minutes"]``) and are spent on first use.

Guessing is throttled per identity and overall. Every try is first *claimed*
(:func:`claim_binding_attempt`): a committed :class:`BindingAttempt` row that counts as a failure
until :func:`bind_identity` marks it succeeded. So a refused guess leaves exactly one row (the
only write a refusal makes), and parallel guesses cannot slip past the count (claims are
serialised: SQLite's write lock, a PostgreSQL advisory lock).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from models.actor import ROLE_PERMISSIONS, Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.errors import DomainError, NotFound, PermissionDenied, ValidationError
from models.identity import BindingAttempt, BindingCode
from models.lookup import get_owned
from models.org import IdentityProvider, Member, MemberIdentity, Org
from models.outbox import emit
from models.timeutil import SHANGHAI

CODE_DIGITS = 12
DEFAULT_CODE_MINUTES = 30
CODE_MINUTES_RANGE = (5, 1440)
#: Key of the PostgreSQL advisory lock that serialises binding claims (any fixed 64-bit number).
_CLAIM_LOCK_KEY = 0x4C5A_4249_4E44


@dataclass(frozen=True)
class BindingPolicy:
    """How many wrong codes are tolerated, and for how long a lockout lasts."""

    identity_failures: int = 5
    identity_window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(hours=1)
    #: Failed tries in the last minute naming one organisation, and overall.
    org_failures_per_minute: int = 20
    global_failures_per_minute: int = 60
    #: A claimed try must be used at once (it is claimed right before the code is checked).
    claim_ttl: timedelta = timedelta(minutes=5)


DEFAULT_POLICY = BindingPolicy()


class BindingCodeInvalid(ValidationError):
    code = "BINDING_CODE_INVALID"
    default_message = "绑定码无效或已过期，请向管理员重新索取"


class BindingLocked(DomainError):
    code = "BINDING_LOCKED"
    http_status = 429
    default_message = "绑定码输错次数太多，已暂停绑定，请稍后再试或联系管理员"


class BindingThrottled(DomainError):
    code = "BINDING_THROTTLED"
    http_status = 429
    default_message = "绑定请求太多，请过一分钟再试"


class PhoneNotRegistered(ValidationError):
    code = "PHONE_NOT_REGISTERED"
    http_status = 404
    default_message = "这个手机号还没有登记，请联系合作社管理员"


def normalize_code(raw: str) -> str | None:
    """Return the twelve ASCII digits of a typed code (spaces, dashes, full-width digits allowed)."""
    t = re.sub(r"[\s\-_.,，、]", "", unicodedata.normalize("NFKC", raw or ""))
    return t if len(t) == CODE_DIGITS and t.isascii() and t.isdigit() else None


def hash_code(code: str) -> str:
    """Return the stored form of a normalised code."""
    return hashlib.sha256(f"liuzhuan.binding.v1:{code}".encode()).hexdigest()


def format_code(code: str) -> str:
    """Group a code in fours for reading and typing: "4821 7730 1956"."""
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4))


def identity_key(provider: IdentityProvider, external_id: str) -> str:
    """Return the string a platform identity is throttled under."""
    return f"{provider.value}:{external_id}"[:160]


def mask(external_id: str) -> str:
    """Show enough of an openid/userid to recognise it, not enough to reuse it."""
    return external_id if len(external_id) <= 6 else f"{external_id[:3]}…{external_id[-3:]}"


def _permissions(member: Member) -> set[Permission]:
    return {p for r in member.roles for p in ROLE_PERMISSIONS[r.role]}


def _may_manage(actor: Actor, member: Member) -> None:
    """A member manages their own bindings; others need MEMBERS and may not reach above their own
    permissions (a manager must not mint a code that makes anyone the director)."""
    if member.id == actor.member_id:
        return
    actor.require(Permission.MEMBERS)
    if actor.system:
        return
    mine = {p for role, _site in actor.roles for p in ROLE_PERMISSIONS[role]}
    if not _permissions(member) <= mine:
        raise PermissionDenied("不能为权限比自己高的成员发放或解除绑定", member_id=member.id)


# --- issuing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class IssueBindingCode:
    member_id: int
    #: Validity in minutes; default the org's ``binding_code_minutes`` (30).
    minutes: int | None = None


@dataclass(frozen=True)
class IssuedCode:
    member_id: int
    #: The plaintext code, grouped in fours: shown once, never stored.
    code: str
    expires_at: datetime


def _lifetime(session: Session, org_id: int, minutes: int | None) -> timedelta:
    org = session.get_one(Org, org_id)
    value = minutes if minutes is not None else (org.settings or {}).get("binding_code_minutes",
                                                                         DEFAULT_CODE_MINUTES)
    low, high = CODE_MINUTES_RANGE
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(f"绑定码有效期应在 {low} 到 {high} 分钟之间", field="minutes")
    return timedelta(minutes=value)


def issue_binding_code(session: Session, actor: Actor, cmd: IssueBindingCode) -> IssuedCode:
    """Issue a one-time code for a member (a manager for their org, a member for themself)."""
    member = get_owned(session, Member, cmd.member_id, actor.org_id)
    _may_manage(actor, member)
    if not member.active:
        raise ValidationError("该成员已停用，不能发放绑定码", member_id=member.id)
    now = utcnow()
    lifetime = _lifetime(session, actor.org_id, cmd.minutes)
    while True:  # 10^12 codes: a clash with a stored hash is all but impossible, but cheap to rule out
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = hash_code(code)
        if session.scalar(select(BindingCode.id).where(BindingCode.code_hash == digest)) is None:
            break
    row = BindingCode(org_id=actor.org_id, member_id=member.id, code_hash=digest, expires_at=now + lifetime,
                      issued_by=actor.member_id)
    session.add(row)
    record_audit(session, actor, "member.binding_code_issued", "member", member.id, before=None,
                 after={"expires_at": row.expires_at.isoformat()})
    return IssuedCode(member.id, format_code(code), row.expires_at)


# --- claiming a try, then binding --------------------------------------------------------------

@dataclass(frozen=True)
class ClaimBindingAttempt:
    provider: IdentityProvider
    external_id: str
    #: The organisation the client named (mini-program login), if any: the code must be from it.
    org_id: int | None = None


def _serialise_claims(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CLAIM_LOCK_KEY})


def _locked_until(times: list[datetime], policy: BindingPolicy) -> datetime | None:
    """The end of the latest lockout: ``identity_failures`` failures within ``identity_window``."""
    n = policy.identity_failures
    ends = [times[i + n - 1] + policy.lockout for i in range(len(times) - n + 1)
            if times[i + n - 1] - times[i] <= policy.identity_window]
    return max(ends) if ends else None


def claim_binding_attempt(session: Session, cmd: ClaimBindingAttempt,
                          policy: BindingPolicy = DEFAULT_POLICY) -> int:
    """Check the throttles and record one try (failed until it succeeds); return its id.

    Commit it before checking the code (:func:`bind_with_code` does), or keep it outside the
    savepoint the binding runs in: the row must outlive a refused binding.
    """
    _serialise_claims(session)
    now = utcnow()
    key = identity_key(cmd.provider, cmd.external_id)
    failed = BindingAttempt.succeeded.is_(False)
    times = list(session.scalars(select(BindingAttempt.created_at).where(
        BindingAttempt.identity == key, failed,
        BindingAttempt.created_at > now - policy.identity_window - policy.lockout,
    ).order_by(BindingAttempt.created_at)))
    until = _locked_until(times, policy)
    if until is not None and until > now:
        local = until.astimezone(SHANGHAI).strftime("%H:%M")
        raise BindingLocked(f"绑定码输错次数太多，已暂停绑定，请在 {local} 以后再试或联系管理员",
                            locked_until=until.isoformat())
    minute_ago = now - timedelta(minutes=1)
    recent = select(func.count()).select_from(BindingAttempt).where(failed, BindingAttempt.created_at > minute_ago)
    if (session.scalar(recent) or 0) >= policy.global_failures_per_minute:
        raise BindingThrottled(scope="global")
    if cmd.org_id is not None and (session.scalar(recent.where(BindingAttempt.org_id == cmd.org_id)) or 0) \
            >= policy.org_failures_per_minute:
        raise BindingThrottled(scope="org")
    if cmd.org_id is not None and session.get(Org, cmd.org_id) is None:
        raise BindingCodeInvalid()
    attempt = BindingAttempt(identity=key, org_id=cmd.org_id, succeeded=False, created_at=now)
    session.add(attempt)
    session.flush()
    return attempt.id


@dataclass(frozen=True)
class BindIdentity:
    provider: IdentityProvider
    external_id: str
    code: str
    #: The claimed try (:func:`claim_binding_attempt`) this binding spends.
    attempt_id: int | None = None


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
        row = MemberIdentity(org_id=member.org_id, member_id=member.id, provider=provider, external_id=external_id)
        session.add(row)
        session.flush()
        record_audit(session, Actor(org_id=member.org_id, member_id=member.id, name=member.name),
                     "member.identity_bound", "member", member.id, before=None,
                     after={"provider": provider.value, "external_id": external_id, "how": how})
        # The member hears of it on their other accounts (workflows.bindings): a stranger who got
        # hold of a code is noticed.
        emit(session, member.org_id, "member.identity_bound", {
            "member_id": member.id, "provider": provider.value, "identity_id": row.id, "how": how,
            "external_hint": mask(external_id)})
    return Binding(member.org_id, member.id, member.name)


def bind_identity(session: Session, cmd: BindIdentity, policy: BindingPolicy = DEFAULT_POLICY) -> Binding:
    """Bind an identity with a one-time code, spending a claimed try; a wrong, used or expired code
    binds nothing (the claimed try stays counted as a failure)."""
    now = utcnow()
    key = identity_key(cmd.provider, cmd.external_id)
    attempt = session.get(BindingAttempt, cmd.attempt_id, with_for_update=True) if cmd.attempt_id else None
    if attempt is None or attempt.identity != key or attempt.succeeded \
            or attempt.created_at < now - policy.claim_ttl:
        raise BindingCodeInvalid(reason="attempt")
    code = normalize_code(cmd.code)
    if code is None or not cmd.external_id:
        raise BindingCodeInvalid()
    row = session.scalar(select(BindingCode).where(BindingCode.code_hash == hash_code(code)).with_for_update())
    if row is None or row.used_at is not None or row.expires_at <= now \
            or (attempt.org_id is not None and row.org_id != attempt.org_id):
        raise BindingCodeInvalid()
    member = session.get_one(Member, row.member_id)
    if not member.active:
        raise BindingCodeInvalid()
    row.used_at, row.used_by = now, key
    attempt.succeeded = True
    return _bind(session, member, cmd.provider, cmd.external_id, "code")


def bind_with_code(session_factory: sessionmaker[Session], cmd: BindIdentity, *, org_id: int | None = None,
                   policy: BindingPolicy = DEFAULT_POLICY) -> Binding:
    """Claim a try (committed on its own), then bind in a second transaction."""
    from models.uow import run

    attempt_id = run(session_factory, claim_binding_attempt,
                     ClaimBindingAttempt(cmd.provider, cmd.external_id, org_id), policy)
    return run(session_factory, bind_identity, replace(cmd, attempt_id=attempt_id), policy)


# --- by phone -----------------------------------------------------------------------------------

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


# --- listing and revoking bindings ---------------------------------------------------------------

@dataclass(frozen=True)
class BindingView:
    id: int
    member_id: int
    provider: str
    #: Masked external id (e.g. "oAb…x9Z"): enough to recognise, not to reuse.
    account: str
    bound_at: datetime


def _view(row: MemberIdentity) -> BindingView:
    return BindingView(row.id, row.member_id, row.provider.value, mask(row.external_id), row.created_at)


def list_bindings(session: Session, actor: Actor, member_id: int) -> list[BindingView]:
    """Return a member's chat and mini-program bindings (themself, or a manager of the org)."""
    member = get_owned(session, Member, member_id, actor.org_id)
    if member.id != actor.member_id:
        actor.require(Permission.MEMBERS)
    rows = session.scalars(select(MemberIdentity).where(
        MemberIdentity.org_id == actor.org_id, MemberIdentity.member_id == member.id).order_by(MemberIdentity.id))
    return [_view(r) for r in rows]


@dataclass(frozen=True)
class RevokeBinding:
    member_id: int
    binding_id: int


def revoke_binding(session: Session, actor: Actor, cmd: RevokeBinding) -> BindingView:
    """Unbind one identity from a member: that chat or phone no longer acts as them."""
    member = get_owned(session, Member, cmd.member_id, actor.org_id)
    _may_manage(actor, member)
    row = session.get(MemberIdentity, cmd.binding_id, with_for_update=True)
    if row is None or row.org_id != actor.org_id or row.member_id != member.id:
        raise NotFound(f"找不到绑定（编号 {cmd.binding_id}）", entity="MemberIdentity", id=cmd.binding_id)
    view = _view(row)
    before: dict[str, Any] = {"provider": row.provider.value, "external_id": row.external_id}
    session.delete(row)
    record_audit(session, actor, "member.identity_revoked", "member", member.id, before=before, after=None)
    emit(session, actor.org_id, "member.identity_revoked", {
        "member_id": member.id, "provider": view.provider, "identity_id": view.id, "by": actor.member_id})
    return view
