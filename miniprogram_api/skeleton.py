"""One shape for every API route: authenticate → authorize → parse a typed request → run → render.

Adapted from Indico's request-handler phases. A route declares its permission up front, so a new
route cannot forget the check::

    @endpoint(api.post, "/promotions", permission=Permission.PLAN, response=PromotionOut, status=201)
    def post_promotion(ctx: Ctx, body: PromotionIn) -> object:
        return ctx.call(set_promotion, body.command())

``permission`` is a ``Permission`` (checked with ``actor.require`` before the body is parsed: a
member who may not call the route learns nothing about its input and costs no decoding), or
``Anyone("why")`` for routes every signed-in member may call — the reason is mandatory so the
choice is visible in review. Object- and site-level checks stay in the operations, which run
after parsing. The request parts (``path``, ``query``, ``body``, ``form``) are pydantic models
annotated on the handler, exactly as flask-openapi3 expects, so every route is in the OpenAPI
spec with its request and response models and request validation answers 422 in the shared shape.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, TypeVar

from flask import Response, abort, jsonify, request
from flask_openapi3 import APIBlueprint, OpenAPI
from flask_openapi3.request import validate_request
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import Id, IdempotencyHeader, call, dec, reader, strict_decimal, transact
from miniprogram_api.errors import ErrorBody, validation_error_response
from models.actor import Actor, Permission
from models.errors import ValidationError

R = TypeVar("R")

#: Error answers every skeleton route may give, all in the one shared shape.
ERRORS: dict[str, type[BaseModel]] = {
    "400": ErrorBody, "401": ErrorBody, "403": ErrorBody, "404": ErrorBody, "409": ErrorBody,
    "413": ErrorBody, "422": ErrorBody,
}

_PARTS = ("path", "query", "form", "body")


# -- bounded request types ----------------------------------------------------------------------

#: Ids and numbers share apiutil's strict readers (no bools, no Unicode digits, no Unix timestamps).
StrictId = Id
QueryId = Id


#: A finite decimal, |x| < 10**12, at most six decimals.
Number = Annotated[Decimal, BeforeValidator(strict_decimal),
                   Field(ge=-Decimal(10) ** 12, le=Decimal(10) ** 12, decimal_places=6, allow_inf_nan=False)]

#: Calendar dates a co-operative plans with: 2000-01-01 .. 2100-12-31 (an override dated 9999 is junk).
DATE_MIN, DATE_MAX = date(2000, 1, 1), date(2100, 12, 31)


def _sane_date(value: date) -> date:
    if not DATE_MIN <= value <= DATE_MAX:
        raise ValueError(f"日期须在 {DATE_MIN} 与 {DATE_MAX} 之间")
    return value


PlanDate = Annotated[date, AfterValidator(_sane_date)]
ShortText = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=2000)]


# -- the skeleton -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Anyone:
    """``permission=Anyone("why")``: every signed-in member may call the route; say why."""

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("Anyone(...) needs the reason the route is open to every member")


@dataclass
class Ctx:
    """What a handler gets: the signed-in actor, a read-only session, the idempotency key."""

    actor: Actor
    session: Session
    key: str | None = None
    #: The route offers an Idempotency-Key: only ``call`` (an @idempotent operation) honours it.
    keyed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def call(self, fn: Callable[..., R], command: object) -> R:
        """Run one operation ``fn(session, actor, command, idempotency_key=...)`` as one transaction."""
        self.session.rollback()  # end the read transaction before the write one
        return call(fn, self.actor, command, self.key)

    def transact(self, fn: Callable[[Session, Actor], R]) -> R:
        """Run ``fn(session, actor)`` as one transaction for the signed-in member (no replay by key).

        A route that offers the Idempotency-Key header must not come here: a retry would write twice
        while the spec promises the first answer. Declare it ``write=False`` or call an operation.
        """
        if self.keyed:
            raise TypeError("a keyed route runs an unkeyed transaction: use ctx.call or write=False")
        self.session.rollback()
        return transact(fn)


@dataclass(frozen=True)
class Rendered:
    """A handler result with a status other than the route's default."""

    value: Any
    status: int


_PLAIN = (str, int, float, bool, type(None))


def to_json(value: Any) -> Any:
    """Render results: dataclasses and models as objects, Decimal as exact strings, dates as ISO."""
    if type(value) in _PLAIN:  # most leaves: skip the checks below
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return to_json(value.model_dump())
    if isinstance(value, Decimal):
        return dec(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    return value


#: Every route built by the skeleton: "VERB /rule" (blueprint-relative) → its permission (for review).
REGISTRY: dict[str, Permission | Anyone] = {}
#: The same by full URL rule ("POST /api/v1/shipments"), as ``app.url_map`` lists it: a test walks
#: the URL map and refuses any /api/ route that is neither here nor explicitly allowed.
ROUTES: dict[str, Permission | Anyone] = {}


def endpoint(
    method: Callable[..., Callable[[Callable[..., Any]], Any]],
    rule: str,
    *,
    permission: Permission | Anyone,
    response: Any = None,
    status: int = 200,
    write: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``handler(ctx, [path], [query], [form | body])`` on ``api.<method>`` through the phases.

    ``method`` is the blueprint's bound verb (``api.get``, ``api.post`` …). ``write`` (default: not
    GET) adds the ``Idempotency-Key`` header to the spec and passes it to ``ctx.key``.
    """
    if not isinstance(permission, Permission | Anyone):  # None or a typo is a bug, not an open route
        raise TypeError(f"{rule}: permission must be a Permission or Anyone('reason')")
    verb = method.__name__
    is_write = write if write is not None else verb != "get"

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(handler)
        parts = {name: hints[name] for name in _PARTS if name in hints}
        if is_write:
            parts["header"] = IdempotencyHeader

        body_model = parts.get("body")

        def parsed(**kwargs: Any) -> Any:  # phase 3 has run (flask-openapi3 validated the parts)
            ctx: Ctx = kwargs.pop("_ctx")
            header = kwargs.pop("header", None)
            ctx.key = header.idempotency_key if header is not None else None
            ctx.keyed = is_write
            if body_model is not None:
                kwargs["body"] = parse_body(body_model)
            return handler(ctx, **kwargs)

        # flask-openapi3 validates path, query, form and header; the JSON body is ours (parse_body)
        parsed.__annotations__ = {k: v for k, v in parts.items() if k != "body"}
        validated = validate_request()(parsed)

        def view(**kwargs: Any) -> Any:
            session, actor = reader()  # phase 1: authenticate (401)
            if isinstance(permission, Permission):
                actor.require(permission)  # phase 2: authorize (403), before anything is parsed
            result = validated(_ctx=Ctx(actor=actor, session=session), **kwargs)  # phases 3-4
            return render(result, status)  # phase 5

        view.__name__ = handler.__name__
        view.__qualname__ = handler.__qualname__
        view.__doc__ = handler.__doc__
        view.__module__ = handler.__module__
        view.__annotations__ = dict(parts)
        view.__delay_validate_request__ = True  # type: ignore[attr-defined]  # we validate after authorizing
        responses: dict[str, Any] = {**ERRORS}
        responses[str(status)] = response if response is not None else {"description": "OK"}
        method(rule, responses=responses)(view)
        REGISTRY[f"{verb.upper()} {rule}"] = permission
        ROUTES[f"{verb.upper()} {full_rule(method, rule)}"] = permission
        return handler

    return decorate


def full_rule(method: Callable[..., Any], rule: str) -> str:
    """The URL rule as Flask registers it: the blueprint's ``url_prefix`` joined as Flask joins it."""
    prefix = getattr(getattr(method, "__self__", None), "url_prefix", None)
    if not prefix:
        return rule
    return "/".join((prefix.rstrip("/"), rule.lstrip("/"))) if rule else prefix


def parse_body(model: type[BaseModel]) -> BaseModel:
    """Validate the JSON body against ``model``; no body at all counts as ``{}`` (optional fields)."""
    raw = request.get_data(cache=True)
    data: Any = {}
    if raw.strip():
        data = request.get_json(silent=True)
        if data is None:  # not JSON, or not declared as JSON
            raise ValidationError("请求体须是 JSON 对象")
    return validate(model, data)


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any) -> M:
    """Validate ``data`` against ``model``; a failure is a 422 in the shared shape, never a 500."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        abort(validation_error_response(exc))


def render(result: Any, status: int) -> Response:
    """Phase 5: JSON in the shared conventions (Decimal as exact strings, dates ISO)."""
    if isinstance(result, Response):
        return result
    if isinstance(result, Rendered):
        result, status = result.value, result.status
    response = jsonify(to_json(result))
    response.status_code = status
    return response


def api_blueprint(name: str, import_name: str, url_prefix: str, tag: str) -> APIBlueprint:
    """Return an APIBlueprint with the bearer scheme and the shared 401 answer."""
    from flask_openapi3 import Tag

    return APIBlueprint(name, import_name, url_prefix=url_prefix, abp_tags=[Tag(name=tag)],
                        abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


# -- routes that are not JSON APIs, documented as raw bodies ------------------------------------

#: Callbacks signed by the platforms and pages outside /api: their bodies are XML, encrypted JSON or
#: HTML, parsed and verified by their own modules. Listed here so the spec (and the fuzzer) has them.
RAW_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("get", "/bot/wechat", "微信公众号接入校验（echostr）", "text/plain"),
    ("post", "/bot/wechat", "微信公众号消息回调（XML，签名校验）", "application/xml"),
    ("get", "/bot/wecom", "企业微信接入校验（echostr）", "text/plain"),
    ("post", "/bot/wecom", "企业微信消息回调（加密 XML，签名校验）", "application/xml"),
    ("post", "/bot/dingtalk/events", "钉钉事件回调（加密 JSON，签名校验）", "application/json"),
    ("post", "/bot/dingtalk/robot", "钉钉机器人消息（timestamp/sign 请求头校验）", "application/json"),
    ("post", "/cards/dingtalk/callback", "钉钉互动卡片回调（加密 JSON，签名校验）", "application/json"),
)


def document_raw_routes(app: OpenAPI) -> None:
    """Add the signed platform callbacks to the spec as raw bodies (their modules verify them)."""
    from flask_openapi3.models import Operation, PathItem

    for verb, rule, summary, content_type in RAW_ROUTES:
        body: dict[str, Any] = {}
        if verb == "post":
            schema = {"type": "object"} if content_type == "application/json" else {"type": "string"}
            body = {"requestBody": {"required": False, "content": {content_type: {"schema": schema}}}}
        operation = Operation.model_validate({
            "summary": summary, "tags": ["平台回调"],
            "operationId": f"raw_{verb}_{rule.strip('/').replace('/', '_')}",
            "parameters": [
                {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                for n in ("signature", "msg_signature", "timestamp", "nonce", "echostr")
            ],
            "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {}}}},
                          **{code: {"description": "refused", "content": {"*/*": {"schema": {}}}}
                             for code in ("400", "401", "403", "404", "409", "422", "503")}},
            **body,
        })
        item = app.paths.setdefault(rule, PathItem())
        setattr(item, verb, operation)
