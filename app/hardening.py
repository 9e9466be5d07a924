"""What every request passes through, whatever its route: hostile-input guards, the one error
shape for every failure, security headers, and access logs that never print a signature or token.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from itertools import accumulate
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import IntegerConverter

from app.settings import Settings
from models.errors import DomainError, ValidationError

log = logging.getLogger(__name__)

#: Deeper than this a JSON body is refused before it is parsed (no API body nests past ~6).
MAX_JSON_DEPTH = 64


class JsonTooDeep(DomainError):
    code = "JSON_TOO_DEEP"
    http_status = 400
    default_message = f"请求内容嵌套层数过多（最多 {MAX_JSON_DEPTH} 层）"


class NulCharacter(ValidationError):
    code = "NUL_CHARACTER"
    default_message = "请求中含有不允许的空字符（NUL）"


class ServiceUnavailable(DomainError):
    code = "SERVICE_UNAVAILABLE"
    http_status = 503
    default_message = "服务暂时不可用，请稍后再试"


# --- request guards ------------------------------------------------------------------------

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1
#: A \u0000 escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.I)
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Tell whether JSON text nests deeper than ``limit``, without parsing it (C-speed scans)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0) > limit


def json_has_nul(body: bytes) -> bool:
    """Tell whether JSON text carries a NUL character (raw or as a \\u0000 escape)."""
    return b"\x00" in body or _NUL_ESCAPE.search(body) is not None


def guard_request() -> None:
    """Refuse NUL characters in the URL and over-deep or NUL-carrying JSON, before any route runs.

    PostgreSQL cannot store NUL in text, and a deeply nested body exhausts the parser's stack:
    both used to end in a 500 after the route had started.
    """
    if b"%00" in request.query_string or b"\x00" in request.query_string or "\x00" in request.path:
        raise NulCharacter(where="url")
    if request.mimetype in _FORM_TYPES or (not request.content_length and not request.is_json):
        return
    body = request.get_data(cache=True)  # read once; the route's parser reuses the cache
    if body.lstrip()[:1] not in (b"{", b"["):
        return  # not JSON (XML callbacks, photos): their own parsers refuse what they cannot read
    if json_too_deep(body):
        raise JsonTooDeep(max_depth=MAX_JSON_DEPTH)
    if json_has_nul(body):
        raise NulCharacter(where="body")


# --- one error shape ------------------------------------------------------------------------

_HTTP_MESSAGES = {
    400: "请求有误", 401: "请先登录", 403: "没有权限", 404: "找不到该地址", 405: "不支持该请求方法",
    406: "无法提供所需的格式", 409: "请求与当前状态冲突", 413: "请求内容太大", 415: "不支持的内容类型",
    429: "请求过于频繁，请稍后再试", 503: "服务暂时不可用，请稍后再试",
}


def error_body(code: str, message: str, status: int, **details: Any) -> tuple[Response, int]:
    """The shared error shape: {"error": {"code", "message", "details"}}."""
    return jsonify({"error": {"code": code, "message": message, "details": details}}), status


def http_error(exc: HTTPException) -> Any:
    """Render aborts (404, 405, 403 …) in the shared JSON shape instead of Werkzeug's HTML."""
    if exc.response is not None:  # a route built its own answer (e.g. request validation)
        return exc.response
    status = exc.code or 500
    code = re.sub(r"[^A-Z0-9]+", "_", (exc.name or "error").upper()).strip("_")
    return error_body(code, _HTTP_MESSAGES.get(status, "请求无法处理"), status)


def database_unavailable(exc: Exception) -> Any:
    """The database is down or saturated: 503 in the shared shape, never an HTML 500."""
    log.error("database unavailable: %s", type(exc).__name__)
    err = ServiceUnavailable()
    response, status = error_body(err.code, err.message, err.http_status)
    response.headers["Retry-After"] = "5"
    return response, status


def data_error(exc: DataError) -> Any:
    """The database refused a value (PostgreSQL: NUL in text, a number out of range): 422, nothing written.

    The safety net behind the request guard, for values that reach SQL by other ways (form fields).
    """
    if "NUL" in str(exc.orig):
        err: DomainError = NulCharacter(where="value")
    else:
        err = ValidationError("输入的数值或文字超出允许范围")
    return error_body(err.code, err.message, err.http_status, **err.details)


def internal_error(exc: InternalServerError) -> Any:
    """An unhandled exception (Flask has logged it): answer 500 in the shared shape."""
    original = getattr(exc, "original_exception", None)
    if isinstance(original, RecursionError):  # a structure too deep for some parser past the guard
        err = JsonTooDeep()
        return error_body(err.code, err.message, err.http_status)
    return error_body("INTERNAL_ERROR", "服务器内部错误，请稍后再试", 500)


# --- security headers -----------------------------------------------------------------------

_ROOT = Path(__file__).resolve().parent.parent
#: Pages served with inline <script> blocks; their hashes go into the CSP (no 'unsafe-inline').
_PAGE_DIRS = (_ROOT / "app" / "templates", _ROOT / "miniprogram_api" / "templates",
              _ROOT / "miniprogram_api" / "static")
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def inline_script_hashes(dirs: tuple[Path, ...] = _PAGE_DIRS) -> list[str]:
    """CSP source expressions ('sha256-…') of every inline script in our pages."""
    hashes: list[str] = []
    for folder in dirs:
        for page in sorted(folder.glob("*.html")) if folder.is_dir() else ():
            for script in _INLINE_SCRIPT.findall(page.read_text(encoding="utf-8")):
                digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
                hashes.append(f"'sha256-{digest}'")
    return hashes


def content_security_policy() -> str:
    """A CSP under which our pages work (the /try page's script, blob/data images, the microphone)."""
    scripts = " ".join(["'self'", *inline_script_hashes()])
    return "; ".join([
        "default-src 'self'", f"script-src {scripts}", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:", "media-src 'self' blob:", "connect-src 'self'", "object-src 'none'",
        "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ])


def security_headers(settings: Settings) -> dict[str, str]:
    """Headers every response carries."""
    headers = {
        "Content-Security-Policy": content_security_policy(),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        # Delivery-note links carry their token in the path: never hand it on as a Referer.
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), geolocation=(), microphone=(self)",
    }
    if settings.production:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


# --- logs without secrets -------------------------------------------------------------------

_SECRET_PARAMS = re.compile(
    r"(?i)((?:^|[?&;])(?:signature|msg_signature|sign|token|nonce|access_token|echostr)=)[^&\s\"']*")
_NOTE_TOKEN = re.compile(r"(/d/)[^/?\s\"']+")


def redact(text: str) -> str:
    """Replace signatures, tokens and nonces in URLs (and delivery-note tokens in paths)."""
    return _NOTE_TOKEN.sub(r"\1[redacted]", _SECRET_PARAMS.sub(r"\1[redacted]", text))


class RedactSecrets(logging.Filter):
    """Strip secrets from access-log lines (Werkzeug's and gunicorn's print the query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


#: Loggers that print request URLs: the dev server, gunicorn, and urllib3 (outbound ?access_token=).
URL_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error", "urllib3.connectionpool")


def install_log_redaction() -> None:
    """Add the redacting filter to every URL-printing logger (once per process)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


class AsciiIntConverter(IntegerConverter):
    """``<int:id>`` that matches ASCII digits only: werkzeug's ``\\d+`` also takes "١٢" (Arabic-Indic 12)."""

    regex = r"[0-9]+"


def install(app: Flask, settings: Settings) -> None:
    """Wire the guards, error handlers, headers and log redaction into ``app`` (before any route is added)."""
    app.url_map.converters["int"] = AsciiIntConverter
    app.before_request(guard_request)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, internal_error)
    for exc in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(exc, database_unavailable)
    app.register_error_handler(DataError, data_error)
    headers = security_headers(settings)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    install_log_redaction()
