"""Who a verified sign-in may become: the active members behind a platform identity or a phone."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from models.operations.platform_login import LoginMember
from models.org import IdentityProvider, Member, MemberIdentity, Org

#: One person in many organisations is a handful of rows; anything past this is not a person.
MAX_MEMBERS = 50


def _members(session: Session, stmt: Select[Member, Org]) -> tuple[LoginMember, ...]:
    seen: dict[int, LoginMember] = {}
    for member, org in session.execute(stmt.order_by(Member.org_id, Member.id).limit(MAX_MEMBERS)).all():
        seen.setdefault(member.id, LoginMember(member.id, member.name, org.id, org.name, member.party_id))
    return tuple(seen.values())


def members_of_identities(session: Session, identities: Sequence[tuple[IdentityProvider, str]]
                          ) -> tuple[LoginMember, ...]:
    """The active members bound to any of the identities (e.g. a WeChat unionid and openid), org by org."""
    if not identities:
        return ()
    match = or_(*[(MemberIdentity.provider == p) & (MemberIdentity.external_id == e) for p, e in identities])
    return _members(session, select(Member, Org).join(Org, Org.id == Member.org_id)
                    .join(MemberIdentity, MemberIdentity.member_id == Member.id)
                    .where(match, Member.active.is_(True)))


def members_of_phone(session: Session, phone: str) -> tuple[LoginMember, ...]:
    """The active members registered with the phone, org by org."""
    return _members(session, select(Member, Org).join(Org, Org.id == Member.org_id)
                    .where(Member.phone == phone, Member.active.is_(True)))
