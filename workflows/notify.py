"""Notify members: who holds a role, their chat identities, and a deduplicated notification log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.base import utcnow
from models.documents import Document
from models.event_log import Notification
from models.infra import OutboxEvent
from models.org import IdentityProvider, Member, MemberRole, Role
from workflows.outbound import deferred, outbound
from workflows.relay import registry


def members_with_role(session: Session, org_id: int, role: str) -> list[Member]:
    """Return active members holding ``role`` (at any site)."""
    return list(session.scalars(
        select(Member).join(MemberRole, MemberRole.member_id == Member.id)
        .where(Member.org_id == org_id, MemberRole.role == Role(role), Member.active.is_(True))
        .distinct().order_by(Member.id)))


def identity(member: Member, provider: IdentityProvider) -> str | None:
    """Return the member's external id with ``provider``, if bound."""
    return next((i.external_id for i in member.identities if i.provider == provider), None)


def record(session: Session, org_id: int, *, channel: str, member_id: int | None, kind: str, title: str,
           body: str, dedupe_key: str) -> Notification | None:
    """Log a notification once per ``dedupe_key``; None when it was already logged (do not resend)."""
    claimed = claim(session, org_id, channel=channel, member_id=member_id, kind=kind, title=title, body=body,
                    dedupe_key=dedupe_key, sent=True)
    return claimed[0] if claimed and claimed[1] else None


def claim(session: Session, org_id: int, *, channel: str, member_id: int | None, kind: str, title: str,
          body: str, dedupe_key: str, sent: bool = False) -> tuple[Notification, bool] | None:
    """Log a notification to send once per ``dedupe_key``; return it and whether it is new.

    None when it was already sent. One logged but still unsent (``sent_at`` NULL: the send after the
    relay's transaction failed) is returned with False, so the retry sends it again without redoing
    the bookkeeping that went with it.
    """
    found = session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
    if found is not None:
        return (found, False) if found.sent_at is None else None
    note = Notification(org_id=org_id, channel=channel, member_id=member_id, kind=kind, title=title[:128],
                        body=body, dedupe_key=dedupe_key[:160], sent_at=utcnow() if sent else None)
    try:
        with session.begin_nested():
            session.add(note)
    except IntegrityError:
        return None
    return note, True


def notify_role(session: Session, event: OutboxEvent, handler: str, role: str, title: str, body: str,
                *, member_id: int | None = None) -> list[Notification]:
    """Tell every member with ``role`` (or one member) about ``event``, once per recipient."""
    if member_id:
        # The member must be the event's organisation's and active: a payload naming another org's
        # member (or one since deactivated) reaches nobody, whoever wrote the payload.
        member = session.get(Member, member_id)
        if member is None or member.org_id != event.org_id or not member.active:
            return []
        members = [member]
    elif role:
        members = members_with_role(session, event.org_id, role)
    else:  # addressed to a party (supplier, farmer): they see it in the mini-program's to-do list
        return []
    sent = []
    with outbound(session, event) as out:
        for member in members:
            claimed = claim(session, event.org_id, channel="dingtalk", member_id=member.id, kind=event.kind,
                            title=title, body=body, dedupe_key=f"{event.id}:{handler}:{member.id}")
            if claimed is None:
                continue
            note = claimed[0]
            sent.append(note)
            userid = identity(member, IdentityProvider.DINGTALK_USERID)
            if userid:
                out.send_card(f"note-{note.id}", [userid], {"title": title, "summary": body,
                                                            "decided": "true", "buttons": "[]"})
            out.deliver(note)
    return sent


def _todo_text(payload: dict[str, Any]) -> str:
    return str(payload.get("title", "待办"))


@registry.register("todo.created", "notify.todo_created")
@deferred
def todo_created(session: Session, event: OutboxEvent) -> None:
    """Tell the assignee about a new to-do (approval to-dos already came with their card)."""
    p = event.payload
    if p.get("kind") == "approval":
        return
    notify_role(session, event, "notify.todo_created", p.get("role") or "", f"新待办：{_todo_text(p)}",
                _todo_text(p), member_id=p.get("member_id"))


@registry.register("todo.reminder", "notify.todo_reminder")
@deferred
def todo_reminder(session: Session, event: OutboxEvent) -> None:
    """Remind the assignee before the deadline."""
    p = event.payload
    notify_role(session, event, "notify.todo_reminder", p.get("role") or "",
                f"待办 {p.get('minutes')} 分钟后到期：{_todo_text(p)}", _todo_text(p), member_id=p.get("member_id"))


@registry.register("todo.escalated", "notify.todo_escalated")
@deferred
def todo_escalated(session: Session, event: OutboxEvent) -> None:
    """Wake the next level of the chain."""
    p = event.payload
    notify_role(session, event, "notify.todo_escalated", p["role"], f"超时升级：{_todo_text(p)}",
                f"原负责人（{p.get('previous_role') or '指定成员'}）未在时限内处理，已升级给你")


def members_who_may(session: Session, org_id: int, permission: Permission, site_id: int) -> list[Member]:
    """Return active members whose roles allow ``permission`` at ``site_id`` (the Actor's own rule)."""
    members = session.scalars(select(Member).where(Member.org_id == org_id, Member.active.is_(True))
                              .order_by(Member.id))
    return [m for m in members
            if Actor(org_id, m.id, roles=tuple((r.role, r.site_id) for r in m.roles)).can(permission, site_id)]


@registry.register("receipt.drafted", "notify.receipt_drafted")
@deferred
def receipt_drafted(session: Session, event: OutboxEvent) -> None:
    """Ask a second person to check a receipt above the review limit: whoever may receive there but its author."""
    p = event.payload
    author = session.scalar(select(Document.created_by).where(Document.id == int(p["document_id"]),
                                                              Document.org_id == event.org_id))
    body = f"{p['number']}：{p['quantity']}，金额 {p['amount']} 元，超过复核线 {p['review_limit']}，请另一人核对后确认"
    for member in members_who_may(session, event.org_id, Permission.RECEIVE, int(p["site_id"])):
        if member.id != author:
            notify_role(session, event, "notify.receipt_drafted", "", f"待复核入库 {p['number']}", body,
                        member_id=member.id)
