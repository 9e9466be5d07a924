"""Shared bits of the clerk/manager API: bounded input types, the idempotency header, calling an
operation as one transaction, and response models generated from the operations' result types."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from flask import current_app, g
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field, TypeAdapter, create_model
from sqlalchemy.orm import Session

from miniprogram_api.auth import current_actor
from miniprogram_api.errors import ErrorBody
from models.actor import Actor
from models.db import read_only
from models.uow import run

R = TypeVar("R")

_ASCII_INT = re.compile(r"[0-9]{1,16}")
# ASCII only: Python's int()/Decimal() also read Arabic-Indic, full-width and other Unicode digits.
_ASCII_DECIMAL = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,15})?")


def _strict_int(value: Any) -> Any:
    # bool is an int in Python ("site_id": true would be site 1); floats and Unicode digits are refused.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("须是整数")
    if isinstance(value, str):
        if not _ASCII_INT.fullmatch(value):
            raise ValueError("须是整数（阿拉伯数字 0-9）")
        return int(value)
    return value


def strict_decimal(value: Any) -> Any:
    """Accept a JSON number or an ASCII decimal string (bounds and finiteness are the Field's)."""
    # A JSON number or an ASCII decimal string; never a bool, never "١٢٣" read as 123.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError("须是数字")
    if isinstance(value, str) and not _ASCII_DECIMAL.fullmatch(value):
        raise ValueError("须是数字（阿拉伯数字 0-9，可带小数点）")
    return value


def _strict_iso(value: Any) -> Any:
    # Dates and times as ISO 8601 text only: pydantic would read a bare number as a Unix timestamp.
    if not isinstance(value, str | date):
        raise ValueError("须是 ISO 8601 日期或时间文本")
    return value


#: Database ids: positive and small enough for every backend (no 500 on 2**70); strictly an integer.
Id = Annotated[int, BeforeValidator(_strict_int), Field(ge=1, le=2**53)]
#: Quantities as people enter them: positive, bounded, at most six decimals.
Quantity = Annotated[Decimal, BeforeValidator(strict_decimal), Field(gt=0, le=Decimal("1e9"), decimal_places=6)]
#: A counted quantity may be zero.
Counted = Annotated[Decimal, BeforeValidator(strict_decimal), Field(ge=0, le=Decimal("1e9"), decimal_places=6)]
Price = Annotated[Decimal, BeforeValidator(strict_decimal), Field(ge=0, le=Decimal("1e9"), decimal_places=6)]
Rate = Annotated[Decimal, BeforeValidator(strict_decimal), Field(ge=0, lt=1, decimal_places=4)]
#: A calendar date as "YYYY-MM-DD".
IsoDate = Annotated[date, BeforeValidator(_strict_iso)]
UnitName = Annotated[str, Field(min_length=1, max_length=16)]
Note = Annotated[str, Field(max_length=256)]


def _plausible(value: datetime) -> datetime:
    if not (datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime(2100, 1, 1, tzinfo=UTC)):
        raise ValueError("业务时间超出合理范围")
    return value


#: Business time of an entry: with a time zone, within a sane range (offline entries may be past).
BusinessTime = Annotated[AwareDatetime, BeforeValidator(_strict_iso), AfterValidator(_plausible)]

#: Error responses every write may answer with, in the one shared shape.
WRITE_ERRORS: dict[str, type[BaseModel]] = {
    "400": ErrorBody, "403": ErrorBody, "404": ErrorBody, "409": ErrorBody, "422": ErrorBody,
}
READ_ERRORS: dict[str, type[BaseModel]] = {"403": ErrorBody, "404": ErrorBody, "422": ErrorBody}


class IdempotencyHeader(BaseModel):
    idempotency_key: str | None = Field(
        None, alias="Idempotency-Key", min_length=1, max_length=128,
        description="请求编号：重发时返回第一次的结果；同一编号换了内容返回 409",
    )


def read_db() -> Session:
    """Return this request's read-only session (no write lock on SQLite; closed at teardown)."""
    if "clerk_read_session" not in g:
        engine = current_app.extensions["liuzhuan"]["engine"]
        g.clerk_read_session = Session(read_only(engine), expire_on_commit=False)
    return g.clerk_read_session


def close_read_db(_exc: BaseException | None = None) -> None:
    """Close the read-only session of this request, if one was opened."""
    session: Session | None = g.pop("clerk_read_session", None)
    if session is not None:
        session.close()


def reader() -> tuple[Session, Actor]:
    """Return the read-only session and the signed-in actor."""
    session = read_db()
    return session, current_actor(session)


def writer() -> Actor:
    """Return the signed-in actor for a write, holding no transaction open afterwards."""
    session = read_db()
    actor = current_actor(session)
    session.rollback()
    return actor


def call(fn: Callable[..., R], actor: Actor, command: object, key: str | None = None) -> R:
    """Run one operation as one transaction (retrying what a retry can cure) and return its result."""
    factory = current_app.extensions["liuzhuan"]["session_factory"]
    return run(factory, fn, actor, command, idempotency_key=key)


def transact(fn: Callable[[Session, Actor], R]) -> R:
    """Run ``fn(session, actor)`` for the signed-in member as one transaction (retried like ``call``)."""
    factory = current_app.extensions["liuzhuan"]["session_factory"]
    return run(factory, fn, writer())


_MODELS: dict[type, type[BaseModel]] = {}
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def out_model(result_type: type) -> type[BaseModel]:
    """Return a pydantic model with the fields of an operation's result dataclass (for the spec)."""
    if result_type not in _MODELS:
        hints = typing.get_type_hints(result_type)
        fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(result_type)}
        _MODELS[result_type] = create_model(f"{result_type.__name__}Out", **fields)
    return _MODELS[result_type]


def dump(result: object) -> dict[str, Any]:
    """Render an operation's result dataclass as JSON-ready data (Decimals as strings)."""
    kind = type(result)
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)  # building one costs milliseconds: once per type
    return _ADAPTERS[kind].dump_python(result, mode="json")


def dec(value: Decimal) -> str:
    """Render a Decimal without trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text
