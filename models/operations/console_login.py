"""The console's fallback sign-in: a six-digit code sent to the member's bound chat (WeCom, DingTalk, WeChat).

Who may sign in is decided by the phone number alone, so nothing here may tell a stranger whether a
number is registered: every request (known phone or not) writes a code row, obeys the same one-per-minute
rate and gets the same answer; only a registered, active member with a bound chat actually receives it.
The code goes out through the bots' ``chat.push`` outbox event (bot.push), after the commit.

There is no actor: these run before anyone is signed in. The members a code signs in are exactly the
active members registered with that phone (one per organisation); the caller signs in one of them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from models.base import utcnow
from models.console_login import ConsoleLoginCode
from models.errors import DomainError, ValidationError
from models.operations.platform_login import LoginMember
from models.org import IdentityProvider, Member, MemberIdentity
from models.outbox import emit
from models.queries.console_login import members_of_phone

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=5)
SEND_INTERVAL = timedelta(minutes=1)
MAX_TRIES = 5
#: Codes per phone a day: with five tries each, at most 50 guesses at a million codes a day (an attacker could
#: otherwise guess 5 a minute, around the clock). It also caps how often a member's chat can be pinged.
MAX_CODES_PER_DAY = 10
#: Chats a code may go to, best first, and the bot channel (bot.push) that reaches each.
CHAT_CHANNELS: tuple[tuple[IdentityProvider, str], ...] = (
    (IdentityProvider.WECOM_USERID, "wecom"),
    (IdentityProvider.DINGTALK_USERID, "dingtalk"),
    (IdentityProvider.WECHAT_OPENID, "wechat"),
)
_PHONE = re.compile(r"1[0-9]{10}")  # ASCII only: \d would take full-width digits


class CodeSentTooSoon(DomainError):
    code = "LOGIN_CODE_TOO_SOON"
    http_status = 429
    default_message = "验证码刚刚发过，请1分钟后再试"


class CodeDailyLimit(DomainError):
    code = "LOGIN_CODE_DAILY_LIMIT"
    http_status = 429
    default_message = "这个手机号今天获取验证码的次数太多了，请改用扫码登录或明天再试"


@dataclass(frozen=True)
class IssueLoginCode:
    phone: str


@dataclass(frozen=True)
class VerifyLoginCode:
    phone: str
    code: str


@dataclass(frozen=True)
class CodeCheck:
    """The members the code signs in; empty when the code was wrong, expired, spent or dead."""

    members: tuple[LoginMember, ...]

    @property
    def ok(self) -> bool:
        return bool(self.members)


def normalise_phone(raw: str) -> str:
    """A mainland mobile number as registered (11 digits); anything else is a ValidationError."""
    phone = re.sub(r"[\s-]", "", raw or "").removeprefix("+86")
    if not _PHONE.fullmatch(phone):
        raise ValidationError("请输入11位手机号", field="phone")
    return phone


def _hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _chat_of(session: Session, phone: str) -> tuple[int, str, str] | None:
    """(org id, channel, chat user id) of the best bound chat of the phone's active members, or None."""
    rows = session.execute(
        select(MemberIdentity.org_id, MemberIdentity.provider, MemberIdentity.external_id)
        .join(Member, Member.id == MemberIdentity.member_id)
        .where(Member.phone == phone, Member.active.is_(True),
               MemberIdentity.provider.in_([p for p, _c in CHAT_CHANNELS]))
        .order_by(MemberIdentity.org_id, MemberIdentity.id)).all()
    for provider, channel in CHAT_CHANNELS:
        for org_id, found, external_id in rows:
            if found == provider:
                return org_id, channel, external_id
    return None


def _serialise_phone(session: Session, phone: str) -> None:
    """Hold the phone's lock until the commit, so the rate check and the new row are one step.

    Without it two parallel requests on PostgreSQL both read "no code in the last minute" and both
    send. The phone may be nobody's (every request writes a row), so there is no member row to lock:
    a transaction-scoped advisory lock keyed by the phone instead. SQLite needs none: its writers
    already run one at a time (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"console_login:{phone}".encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def issue_login_code(session: Session, cmd: IssueLoginCode, *, now: datetime | None = None) -> None:
    """Issue a code for the phone and send it to the member's chat (if there is one); answer nothing."""
    phone = normalise_phone(cmd.phone)
    _serialise_phone(session, phone)
    now = now or utcnow()
    latest = session.scalar(select(ConsoleLoginCode.created_at).where(ConsoleLoginCode.phone == phone)
                            .order_by(ConsoleLoginCode.created_at.desc()).limit(1))
    if latest is not None and now - latest < SEND_INTERVAL:
        raise CodeSentTooSoon()
    today = session.scalar(select(func.count()).select_from(ConsoleLoginCode).where(
        ConsoleLoginCode.phone == phone, ConsoleLoginCode.created_at > now - timedelta(days=1)))
    if (today or 0) >= MAX_CODES_PER_DAY:
        raise CodeDailyLimit()
    # A new code replaces the phone's earlier ones: only the latest message is worth typing.
    session.execute(update(ConsoleLoginCode).where(ConsoleLoginCode.phone == phone,
                                                   ConsoleLoginCode.used_at.is_(None)).values(used_at=now))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    session.add(ConsoleLoginCode(phone=phone, salt=salt, code_hash=_hash(salt, code), created_at=now,
                                 expires_at=now + CODE_LIFETIME, attempts=0))
    chat = _chat_of(session, phone)
    if chat is not None:
        org_id, channel, user_id = chat
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        emit(session, org_id, "chat.push", {"channel": channel, "user_id": user_id,
                                            "text": f"【流转】管理台登录验证码：{code}，{minutes}分钟内有效。"
                                                    "如非本人操作请忽略，切勿告诉他人。"})


def verify_login_code(session: Session, cmd: VerifyLoginCode, *, now: datetime | None = None) -> CodeCheck:
    """Check a code: right → spent, and the phone's members; wrong → one try used (kept: no exception)."""
    refused = CodeCheck(())
    try:
        phone = normalise_phone(cmd.phone)
    except ValidationError:
        return refused
    now = now or utcnow()
    row = session.scalar(select(ConsoleLoginCode).where(
        ConsoleLoginCode.phone == phone, ConsoleLoginCode.used_at.is_(None), ConsoleLoginCode.expires_at > now,
        ConsoleLoginCode.attempts < MAX_TRIES).order_by(ConsoleLoginCode.created_at.desc()).limit(1))
    if row is None:
        return refused
    # Count the try first, atomically: parallel guesses cannot share one remaining try.
    claimed = session.execute(update(ConsoleLoginCode).where(
        ConsoleLoginCode.id == row.id, ConsoleLoginCode.attempts < MAX_TRIES, ConsoleLoginCode.used_at.is_(None))
        .values(attempts=ConsoleLoginCode.attempts + 1).execution_options(synchronize_session=False))
    if getattr(claimed, "rowcount", 0) != 1:
        return refused
    typed = re.sub(r"\s", "", cmd.code or "")
    if not hmac.compare_digest(row.code_hash, _hash(row.salt, typed)):
        return refused
    session.execute(update(ConsoleLoginCode).where(ConsoleLoginCode.id == row.id).values(used_at=now)
                    .execution_options(synchronize_session=False))
    return CodeCheck(members_of_phone(session, phone))
