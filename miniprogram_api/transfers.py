"""Transfer requests (incl. one-tap emergency transfers with prefilled quantities) and their steps."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import BusinessTime, Id, Note, Quantity, UnitName, dec, dump, out_model
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.actor import Actor, Permission
from models.documents import DocKind, Document
from models.errors import NotFound, PermissionDenied, ValidationError
from models.idempotency import find_record
from models.lookup import get_owned
from models.operations import (
    RequestTransfer,
    Transfer,
    TransferLineIn,
    TransferRef,
    cancel_transfer,
    dispatch_transfer,
    receive_transfer,
    request_transfer,
)
from models.operations.transfers import transfer_view
from models.org import Site
from models.queries.emergency_transfer import Need, suggest_emergency

api = APIBlueprint("clerk_transfers", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="调拨")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

TransferOut = out_model(Transfer)


class LineIn(BaseModel):
    item_id: Id
    quantity: Quantity
    unit: UnitName | None = None


class TransferIn(BaseModel):
    from_site_id: Id
    to_site_id: Id
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=50)]
    urgent: bool = False
    reason: Note = ""
    business_time: BusinessTime | None = None

    def command(self) -> RequestTransfer:
        return RequestTransfer(
            from_site_id=self.from_site_id, to_site_id=self.to_site_id,
            lines=tuple(TransferLineIn(ln.item_id, ln.quantity, ln.unit) for ln in self.lines),
            urgent=self.urgent, reason=self.reason, business_time=self.business_time)


class NeedIn(BaseModel):
    item_id: Id
    need: Quantity | None = Field(None, description="调入地点需要的数量（基本单位）；不填则建议调出方全部可用量")


class EmergencyIn(BaseModel):
    to_site_id: Id
    from_site_id: Id | None = Field(None, description="不填则自动选可用量最多的地点")
    items: Annotated[list[NeedIn], Field(min_length=1, max_length=20)]
    reason: Note = "紧急调拨"
    preview: bool = Field(False, description="true：只返回建议数量，不提交")


class Suggestion(BaseModel):
    item_id: int
    item_name: str
    base_unit: str
    source_available: str
    destination_available: str
    shortfall: str | None
    suggested: str


class EmergencyOut(BaseModel):
    from_site_id: int
    to_site_id: int
    suggestions: list[Suggestion]
    transfer: TransferOut | None = None  # type: ignore[valid-type]


class DocPath(BaseModel):
    document_id: Id


class StepIn(BaseModel):
    reason: Note = ""
    business_time: BusinessTime | None = None


def suggest(session: Session, actor: Actor, body: EmergencyIn) -> tuple[Site, Site, list[Suggestion]]:
    """Suggest quantities (the query considers only sites where the member may see stock)."""
    found = suggest_emergency(session, actor, body.to_site_id, [Need(n.item_id, n.need) for n in body.items],
                              from_site_id=body.from_site_id)
    return found.source, found.destination, [
        Suggestion(item_id=s.item_id, item_name=s.item_name, base_unit=s.base_unit,
                   source_available=dec(s.source_available), destination_available=dec(s.destination_available),
                   shortfall=dec(s.shortfall) if s.shortfall is not None else None, suggested=dec(s.suggested))
        for s in found.suggestions]


def _replay(session: Session, actor: Actor, key: str | None) -> Transfer | None:
    """Return the transfer an earlier emergency request with this key created, if any."""
    if not key:
        return None
    record = find_record(session, actor, key)  # this member's own key only
    if record is None or record.operation != "transfer.request" or record.result is None:
        return None
    return TypeAdapter(Transfer).validate_python(record.result)


@endpoint(api.post, "/transfers", permission=Permission.TRANSFER_REQUEST, response=TransferOut)
def create(ctx: Ctx, body: TransferIn) -> dict:
    """Request a transfer between two sites (approval follows)."""
    return dump(ctx.call(request_transfer, body.command()))


# Even a preview reads stock levels: suggest_emergency requires VIEW_STOCK at the destination.
@endpoint(api.post, "/transfers/emergency", permission=Permission.VIEW_STOCK, response=EmergencyOut)
def emergency(ctx: Ctx, body: EmergencyIn) -> dict:
    """One-tap emergency transfer: prefilled quantities, submitted as an urgent request."""
    replayed = _replay(ctx.session, ctx.actor, ctx.key)
    if replayed is not None:  # a retry: stock may have moved since, so never re-suggest
        return {"from_site_id": replayed.from_site_id, "to_site_id": replayed.to_site_id, "suggestions": [],
                "transfer": dump(replayed)}
    source, dest, suggestions = suggest(ctx.session, ctx.actor, body)
    result = EmergencyOut(from_site_id=source.id, to_site_id=dest.id, suggestions=suggestions)
    if body.preview:
        return result.model_dump(mode="json")
    lines = tuple(TransferLineIn(s.item_id, Decimal(s.suggested)) for s in suggestions if Decimal(s.suggested) > 0)
    if not lines:
        raise ValidationError(f"{source.name} 没有可调出的库存", field="items", from_site_id=source.id)
    cmd = RequestTransfer(from_site_id=source.id, to_site_id=dest.id, lines=lines, urgent=True,
                          reason=body.reason or "紧急调拨")
    transfer = ctx.call(request_transfer, cmd)  # ends the read transaction before the write one
    return {**result.model_dump(mode="json"), "transfer": dump(transfer)}


@endpoint(api.get, "/transfers/<int:document_id>", permission=Permission.VIEW_STOCK, response=TransferOut)
def show(ctx: Ctx, path: DocPath) -> dict:
    """Return one transfer of the organisation."""
    session, actor = ctx.session, ctx.actor
    doc = get_owned(session, Document, path.document_id, actor.org_id)
    if doc.kind != DocKind.TRANSFER:
        raise NotFound(f"找不到调拨单（编号 {path.document_id}）", id=path.document_id)
    if not (actor.can(Permission.VIEW_STOCK, doc.site_id) or actor.can(Permission.VIEW_STOCK, doc.to_site_id)):
        raise PermissionDenied("没有权限：查看调拨单", document_id=doc.id)
    return dump(transfer_view(session, doc))


def _step(ctx: Ctx, fn: Callable[..., Transfer], path: DocPath, body: StepIn) -> dict:
    cmd = TransferRef(document_id=path.document_id, reason=body.reason, business_time=body.business_time)
    return dump(ctx.call(fn, cmd))


@endpoint(api.post, "/transfers/<int:document_id>/dispatch", permission=Permission.TRANSFER_DISPATCH,
          response=TransferOut)
def dispatch(ctx: Ctx, path: DocPath, body: StepIn) -> dict:
    """Dispatch an approved transfer: the goods go into transit."""
    return _step(ctx, dispatch_transfer, path, body)


@endpoint(api.post, "/transfers/<int:document_id>/receive", permission=Permission.TRANSFER_RECEIVE,
          response=TransferOut)
def receive(ctx: Ctx, path: DocPath, body: StepIn) -> dict:
    """Receive a transfer in transit at the destination."""
    return _step(ctx, receive_transfer, path, body)


@endpoint(api.post, "/transfers/<int:document_id>/cancel",
          permission=Anyone("申请人本人或有审批调拨权限者；由 cancel_transfer 按单据检查"), response=TransferOut)
def cancel(ctx: Ctx, path: DocPath, body: StepIn) -> dict:
    """Cancel a transfer that has not left yet (requester or approver)."""
    return _step(ctx, cancel_transfer, path, body)
