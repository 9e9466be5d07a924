"""Our own signed, expiring tokens (never the platform's session_key) and the current actor."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from miniprogram_api.errors import TokenExpired, Unauthenticated
from models.actor import Actor, load_actor
from models.errors import NotFound

TOKEN_MAX_AGE_S = 7 * 24 * 3600
_SALT = "liuzhuan.api.token.v1"


@dataclass(frozen=True)
class TokenClaims:
    member_id: int
    org_id: int


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def issue_token(member_id: int, org_id: int) -> str:
    """Return a signed token naming the member; it expires after TOKEN_MAX_AGE_S."""
    return _serializer().dumps({"m": member_id, "o": org_id})


def read_token(token: str, max_age: int = TOKEN_MAX_AGE_S) -> TokenClaims:
    """Verify a token and return its claims, or raise Unauthenticated/TokenExpired."""
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenExpired() from exc
    except BadSignature as exc:
        raise Unauthenticated("登录凭证无效，请重新登录") from exc
    return TokenClaims(member_id=int(data["m"]), org_id=int(data["o"]))


def current_actor(session: Session) -> Actor:
    """Return the actor of this request's bearer token (loaded fresh: roles may have changed)."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthenticated()
    claims = read_token(header.removeprefix("Bearer ").strip())
    try:
        actor = load_actor(session, claims.member_id)
    except NotFound as exc:
        raise Unauthenticated("账号已停用，请联系管理员") from exc
    if actor.org_id != claims.org_id:
        raise Unauthenticated()
    return actor
