"""Request plumbing every console page shares: the signed-in member, the read session, running an
operation, CSRF, rendering and the console's error pages.

The console is one more channel: it parses forms and renders pages; every rule lives in the
operations and queries it calls (the same ones the API and the bots call).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from console.blueprint import bp
from models.actor import Actor, Permission, load_actor
from models.db import read_only
from models.errors import DomainError, NotFound
from models.operations.console_sessions import StartConsoleSession, end_console_session, start_console_session
from models.queries.console_session import LiveSession, live_console_session
from models.queries.nodes import node_sync_status
from models.uow import run

R = TypeVar("R")

#: A console session ends this long after sign-in, whatever happens (a shared desk computer).
ABSOLUTE_LIFETIME_S = 12 * 3600
#: …or after this long without a request.
IDLE_LIFETIME_S = 2 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# --- the signed-in member ------------------------------------------------------------------------


def sign_in(member_id: int, org_id: int, method: str = "dev") -> None:
    """Start a console session for a member (after the caller has verified who they are)."""
    token = run(_factory(), start_console_session, StartConsoleSession(member_id, org_id, method))
    session.clear()  # no session fixation: nothing from before sign-in survives it
    now = int(time.time())
    session.permanent = True
    session.update({"console_sid": token, "console_signed_at": now, "console_seen_at": now})


def sign_out() -> None:
    """End the console session, on the server too: a copy of the cookie taken earlier is dead."""
    token = session.get("console_sid")
    session.clear()
    if isinstance(token, str):
        run(_factory(), end_console_session, token)


def _factory() -> Any:
    return current_app.extensions["liuzhuan"]["session_factory"]


def _session_member() -> LiveSession | None:
    token = session.get("console_sid")
    if not isinstance(token, str):
        return None
    now = int(time.time())
    signed_at, seen_at = int(session.get("console_signed_at", 0)), int(session.get("console_seen_at", 0))
    if now - signed_at > ABSOLUTE_LIFETIME_S or now - seen_at > IDLE_LIFETIME_S:
        sign_out()
        return None
    live = live_console_session(read_db(), token)
    if live is None:  # signed out elsewhere, or past its lifetime on the server's clock
        session.clear()
        return None
    if now - seen_at > 60:  # refresh the idle clock at most once a minute (each refresh re-sends the cookie)
        session["console_seen_at"] = now
    return live


def signed_in_actor() -> Actor | None:
    """The signed-in member as an actor, loaded fresh (roles may have changed), or None."""
    if "console_actor" in g:
        return g.console_actor
    live = _session_member()
    actor: Actor | None = None
    if live is not None:
        try:
            actor = load_actor(read_db(), live.member_id)
        except NotFound:  # deactivated since sign-in
            read_db().rollback()
            sign_out()
        else:
            if actor.org_id != live.org_id:
                read_db().rollback()
                sign_out()
                actor = None
    read_db().rollback()  # hold no read transaction between the actor and the page's own reads
    g.console_actor = actor
    return actor


def actor() -> Actor:
    """The signed-in actor of a page decorated with :func:`member_page`."""
    found = signed_in_actor()
    assert found is not None, "console page without @member_page"
    return found


def member_page(permission: Permission | None = None) -> Callable[[Callable[..., ResponseReturnValue]],
                                                                   Callable[..., ResponseReturnValue]]:
    """Require a signed-in member (and, to show the page at all, a permission somewhere).

    The permission only decides whether the page is shown; what the member may see and do on it
    is decided again by the query and the operation it calls.
    """
    def wrap(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            who = signed_in_actor()
            if who is None:
                target = url_for("console.login", next=request.full_path.rstrip("?"))
                if request.headers.get("HX-Request"):
                    return Response(status=401, headers={"HX-Redirect": target})
                return redirect(target)
            if permission is not None and not can_anywhere(who, permission):
                return error_page("FORBIDDEN", "您没有查看这个页面的权限，请联系管理员", 403)
            return view(*args, **kwargs)
        return guarded
    return wrap


def can_anywhere(who: Actor, permission: Permission) -> bool:
    """Whether the actor holds a permission at any site (for showing a page or a menu entry)."""
    if who.can(permission):
        return True
    return any(who.can(permission, site_id) for _role, site_id in who.roles if site_id is not None)


# --- database ------------------------------------------------------------------------------------


def read_db() -> Session:
    """This request's read-only session (no write lock on SQLite; closed at teardown)."""
    if "console_read_session" not in g:
        engine = current_app.extensions["liuzhuan"]["engine"]
        g.console_read_session = Session(read_only(engine), expire_on_commit=False)
    return g.console_read_session


@bp.teardown_app_request
def _close_read_db(_exc: BaseException | None) -> None:
    read: Session | None = g.pop("console_read_session", None)
    if read is not None:
        read.close()


def call(fn: Callable[..., R], command: object, key: str | None = None) -> R:
    """Run one operation for the signed-in member as one transaction and return its result."""
    who = actor()
    read_db().rollback()  # never hold a read transaction across a write (SQLite: it would block it)
    factory = current_app.extensions["liuzhuan"]["session_factory"]
    if key is None:  # an operation without @idempotent takes no key (passing None would be a TypeError)
        return run(factory, fn, who, command)
    return run(factory, fn, who, command, idempotency_key=key)


# --- CSRF ----------------------------------------------------------------------------------------


@bp.before_request
def _check_csrf() -> ResponseReturnValue | None:
    if request.method in _SAFE_METHODS:
        return None
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken", "")
    try:
        validate_csrf(token)
    except (CSRFError, Exception):  # flask-wtf raises ValidationError for a missing/expired/bad token
        return error_page("CSRF_INVALID", "页面已过期或来源不明，请刷新页面后重试", 400)
    return None


# --- rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: str
    permission: Permission | None


#: The console's sections, in menu order. A section module registers its page under this endpoint.
NAV: tuple[NavEntry, ...] = (
    NavEntry("console.today", "首页", None),
    NavEntry("console.stock", "库存", Permission.VIEW_STOCK),
    NavEntry("console.documents", "单据", None),
    NavEntry("console.money", "资金", Permission.VIEW_FINANCE),
    NavEntry("console.planning", "计划", Permission.PLAN),
    NavEntry("console.collaboration", "协同", Permission.RULES),
    NavEntry("console.settings", "设置", None),
    NavEntry("console.imports", "导入导出", None),
)


def _nav(who: Actor | None) -> list[NavEntry]:
    if who is None:
        return []
    return [e for e in NAV if e.endpoint in current_app.view_functions
            and (e.permission is None or can_anywhere(who, e.permission))]


@bp.app_context_processor
def _console_context() -> dict[str, Any]:
    if request.blueprint != "console":
        return {}
    who = signed_in_actor() if request.endpoint != "console.static" else None
    # At headquarters node_sync_status is None without touching the database.
    sync = node_sync_status(read_db(), who.org_id) if who is not None else None
    return {"me": who, "nav": _nav(who), "csrf_token": generate_csrf, "node_sync": sync}


def render(template: str, status: int = 200, **context: Any) -> Response:
    """Render a console page (a full page, or its ``#main`` fragment for an htmx request)."""
    body = render_template(template, **context)
    return Response(body, status=status, mimetype="text/html")


def error_page(code: str, message: str, status: int) -> Response:
    """A Chinese error page (or fragment) with the program's stable code."""
    if request.accept_mimetypes.best == "application/json":
        return Response(jsonify({"error": {"code": code, "message": message}}).get_data(), status=status,
                        mimetype="application/json")
    return render("console/error.html", status=status, code=code, message=message)


def safe_next(target: str | None, default: str = "console.today") -> str:
    """A same-site path to go back to (never an absolute URL: no open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/console") and "\\" not in target:
            return target
    return url_for(default)


def done(message: str, next_url: str | None = None) -> Response:
    """After a successful action: say so and go back (303, so a reload does not post again)."""
    flash(message, "ok")
    return redirect(safe_next(next_url or request.form.get("next") or request.referrer), code=303)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> ResponseReturnValue:
    """A refused action: back to the page with the reason (nothing was written)."""
    if request.method in _SAFE_METHODS:
        return error_page(exc.code, exc.message, exc.http_status)
    flash(f"{exc.message}（{exc.code}）", "error")
    return redirect(safe_next(request.form.get("next") or request.referrer), code=303)
