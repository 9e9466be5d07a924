"""GET /changes' response shape: master data changed since a cursor (``models.queries.changes``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from models.queries.changes import CURSOR_PATTERN, changes_since, decode_cursor, encode_cursor

__all__ = ["CURSOR_PATTERN", "ChangesOut", "changes_since", "decode_cursor", "encode_cursor"]


class UnitOut(BaseModel):
    name: str
    dimension: str
    factor: str


class PackOut(BaseModel):
    name: str
    factor: str


class GradeOut(BaseModel):
    id: int
    name: str
    purchase_price: str
    rank: int


class ItemOut(BaseModel):
    id: int
    code: str
    name: str
    base_unit: str
    dimension: str
    aliases: list[str]
    sale_price: str | None
    shelf_life_days: int | None
    active: bool
    packs: list[PackOut]
    grades: list[GradeOut]


class SiteOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    active: bool


class PartyOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    active: bool


class MemberOut(BaseModel):
    id: int
    name: str
    active: bool


class ChangesOut(BaseModel):
    cursor: str = Field(description="下次请求带上它")
    full: bool = Field(description="true：这是全量数据，客户端应替换本地缓存")
    units: list[UnitOut]
    items: list[ItemOut]
    sites: list[SiteOut]
    parties: list[PartyOut]
    members: list[MemberOut]
