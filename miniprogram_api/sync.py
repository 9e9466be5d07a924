"""Offline phones: POST /sync applies a queue of operations; GET /changes sends master data since a cursor."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticError

from miniprogram_api.apiutil import BusinessTime, Id, dump
from miniprogram_api.approvals import DecisionIn
from miniprogram_api.changes import CURSOR_PATTERN, ChangesOut, changes_since
from miniprogram_api.errors import ErrorBody, ErrorDetail
from miniprogram_api.shipments import ReceiveIn, ShipIn
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from miniprogram_api.stock import CountIn
from miniprogram_api.transfers import StepIn, TransferIn
from models.errors import DomainError
from models.operations import (
    BatchOp,
    BatchOutcome,
    DecideTransfer,
    TransferRef,
    apply_batch,
    cancel_transfer,
    count_stock,
    decide_transfer,
    dispatch_transfer,
    receive_goods,
    receive_transfer,
    request_transfer,
    ship_goods,
)

log = logging.getLogger(__name__)

api = APIBlueprint("clerk_sync", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="离线同步")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

#: The node name stamped on moves that came through an offline queue.
OFFLINE_NODE = "offline-phone"


class DocumentStep(StepIn):
    document_id: Id


class Decision(DecisionIn):
    document_id: Id


def _receive(body: ReceiveIn, client_id: uuid.UUID) -> Any:
    return body.command(move_id=client_id, origin_node=OFFLINE_NODE)


def _ship(body: ShipIn, _client_id: uuid.UUID) -> Any:
    return dataclasses.replace(body.command(), origin_node=OFFLINE_NODE)


def _step(body: DocumentStep, _client_id: uuid.UUID) -> Any:
    return TransferRef(document_id=body.document_id, reason=body.reason, business_time=body.business_time)


def _decide(body: Decision, _client_id: uuid.UUID) -> Any:
    return DecideTransfer(document_id=body.document_id, approve=body.decision == "approve", reason=body.reason)


def _plain(body: Any, _client_id: uuid.UUID) -> Any:
    return body.command()


#: kind → (operation, body model, command builder).
KINDS: dict[str, tuple[Callable[..., Any], type[BaseModel], Callable[[Any, uuid.UUID], Any]]] = {
    "receive": (receive_goods, ReceiveIn, _receive),
    "ship": (ship_goods, ShipIn, _ship),
    "count": (count_stock, CountIn, _plain),
    "transfer_request": (request_transfer, TransferIn, _plain),
    "transfer_decide": (decide_transfer, Decision, _decide),
    "transfer_dispatch": (dispatch_transfer, DocumentStep, _step),
    "transfer_receive": (receive_transfer, DocumentStep, _step),
    "transfer_cancel": (cancel_transfer, DocumentStep, _step),
}


class QueuedOp(BaseModel):
    client_id: uuid.UUID = Field(description="手机生成的 UUID：既是幂等键，也是入库的库存流水编号")
    kind: str = Field(max_length=32, description="操作：" + "、".join(KINDS))
    business_time: BusinessTime | None = Field(None, description="业务发生时间（离线时可早于现在），须带时区")
    body: dict[str, Any] = Field(default_factory=dict, description="与对应在线接口相同的请求体")


class SyncIn(BaseModel):
    operations: Annotated[list[QueuedOp], Field(max_length=500)]


class OpResult(BaseModel):
    client_id: uuid.UUID
    kind: str
    status: str = Field(description="applied | already_applied | conflict")
    result: dict[str, Any] | None = None
    error: ErrorDetail | None = None


class SyncOut(BaseModel):
    applied: int
    already_applied: int
    conflicts: int
    results: list[OpResult]


class ChangesQuery(BaseModel):
    cursor: str | None = Field(None, max_length=40, pattern=CURSOR_PATTERN,
                               description="上次返回的 cursor；不填返回全部")


def _conflict(op: QueuedOp, code: str, message: str, details: dict[str, Any]) -> OpResult:
    return OpResult(client_id=op.client_id, kind=op.kind, status="conflict",
                    error=ErrorDetail(code=code, message=message, details=details))


def parse_op(op: QueuedOp) -> BatchOp | OpResult:
    """Build one queued entry's operation, or its conflict when the entry itself is malformed (no database)."""
    if op.kind not in KINDS:
        return _conflict(op, "UNKNOWN_KIND", f"不支持的操作类型：{op.kind}", {"kinds": list(KINDS)})
    fn, model, build = KINDS[op.kind]
    body = dict(op.body)
    if op.business_time is not None and "business_time" in model.model_fields:
        body["business_time"] = op.business_time
    try:
        return BatchOp(key=str(op.client_id), operation=fn, command=build(model.model_validate(body), op.client_id))
    except PydanticError as exc:
        fields = [{"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
                  for e in exc.errors(include_url=False, include_context=False)]
        return _conflict(op, "VALIDATION_ERROR", "请求参数有误", {"fields": fields})
    except DomainError as exc:  # a command's own checks (e.g. a quantity) raised while it was built
        return _conflict(op, exc.code, exc.message, exc.details)
    except Exception:  # one broken entry must not stop the queue behind it
        log.exception("sync operation %s (%s) could not be built", op.client_id, op.kind)
        return _conflict(op, "INTERNAL_ERROR", "服务器处理失败，请稍后重试", {})


def render(op: QueuedOp, outcome: BatchOutcome) -> OpResult:
    """Turn one operation's outcome into its entry of the answer."""
    if outcome.status == "conflict":
        if isinstance(outcome.error, DomainError):
            return _conflict(op, outcome.error.code, outcome.error.message, outcome.error.details)
        return _conflict(op, "INTERNAL_ERROR", "服务器处理失败，请稍后重试", {})  # logged by apply_batch
    result = outcome.result
    return OpResult(client_id=op.client_id, kind=op.kind, status=outcome.status,
                    result=dump(result) if dataclasses.is_dataclass(result) else {"value": str(result)})


# Each queued operation runs the same operation (and permission check) as its online route, so the
# queue itself is open to every member; the client id in each entry is its idempotency key.
@endpoint(api.post, "/sync", permission=Anyone("每条离线操作由对应的操作按权限与地点逐条检查"), response=SyncOut,
          write=False)
def sync(ctx: Ctx, body: SyncIn) -> dict:
    """Apply queued offline operations in order (one transaction, one savepoint each); report each one."""
    ctx.session.rollback()  # hold no read transaction while the operations write
    factory = current_app.extensions["liuzhuan"]["session_factory"]
    parsed = [parse_op(op) for op in body.operations]
    outcomes = iter(apply_batch(factory, ctx.actor, [p for p in parsed if isinstance(p, BatchOp)]))
    results = [p if isinstance(p, OpResult) else render(op, next(outcomes))
               for op, p in zip(body.operations, parsed, strict=True)]
    count = {s: sum(1 for r in results if r.status == s) for s in ("applied", "already_applied", "conflict")}
    return SyncOut(applied=count["applied"], already_applied=count["already_applied"],
                   conflicts=count["conflict"], results=results).model_dump(mode="json")


@endpoint(api.get, "/changes", permission=Anyone("主数据供离线使用；无查看库存权限的成员只得到本人的交货方与成员记录"),
          response=ChangesOut)
def changes(ctx: Ctx, query: ChangesQuery) -> object:
    """Return master data (items, units, packs, grades, prices, sites, parties, members) changed since a cursor."""
    return changes_since(ctx.session, ctx.actor, query.cursor)
