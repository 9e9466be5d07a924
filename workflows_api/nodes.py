"""Edge nodes over HTTP: the list with last contact and lag (managers), and the nodes' signed hello.

``POST /api/v1/nodes/hello`` is called by an edge node, not a member: it carries no bearer token but
the node's HMAC signature (models.operations.node_auth verifies it, in the application layer). So it
is outside the skeleton, allow-listed in tests/security/test_routes.py, and in the spec as is.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag

from miniprogram_api.skeleton import ERRORS, Ctx, api_blueprint, endpoint
from models.actor import Permission
from models.operations.node_auth import NodeHello, SignedRequest, node_hello
from models.operations.node_exchange import NodeExchange, node_exchange
from models.queries.nodes import list_nodes, open_conflicts
from models.uow import run

api = api_blueprint("nodes", __name__, "/api/v1/nodes", "站点节点")
#: The nodes' own blueprint: no bearer scheme in the spec (they sign instead).
hello_api = APIBlueprint("nodes_hello", __name__, url_prefix="/api/v1/nodes", abp_tags=[Tag(name="站点节点")])
ARRAY = {"description": "OK",
         "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}
HELLO_OUT = {"description": "OK", "content": {"application/json": {"schema": {
    "type": "object", "properties": {
        "node": {"type": "string"}, "name": {"type": "string"}, "server_time": {"type": "string"},
        "sites": {"type": "array", "items": {"type": "object"}},
        "cursors": {"type": "object", "properties": {"up": {"type": "integer"}, "down": {"type": "integer"}}}}}}}}


@endpoint(api.get, "", permission=Permission.RULES, response=ARRAY)
def nodes(ctx: Ctx) -> Any:
    """The organisation's edge nodes: sites served, last contact (time, IP, version) and lag in seconds."""
    return [n.to_dict() for n in list_nodes(ctx.session, ctx.actor)]


@endpoint(api.get, "/conflicts", permission=Permission.RULES, response=ARRAY)
def conflicts(ctx: Ctx) -> Any:
    """Open sync conflicts, newest first: node, rule, both sides' facts, the proposed compensating
    document and the to-do that works it off."""
    return [c.to_dict() for c in open_conflicts(ctx.session, ctx.actor)]


@hello_api.post("/hello", responses={"200": HELLO_OUT, **{c: ERRORS[c] for c in ("401", "409", "413", "422")}})
def hello() -> Response:
    """A node says hello (signed: X-Liuzhuan-Node, -Timestamp, -Nonce, -Signature over the body as sent).

    Body {"node": CODE, "version": …, "sent_at": …}, optionally Content-Encoding: gzip (10 MB unpacked at
    most). Answers the server time, the node's sites (id, code, name) and its cursors — placeholders
    {"up": 0, "down": 0} until replication is built. Refusals: NODE_UNKNOWN, NODE_SIGNATURE_INVALID,
    NODE_CLOCK_SKEW (401), NODE_REPLAYED (409), each changing nothing.
    """
    signed = SignedRequest(method=request.method, path=request.path, headers=dict(request.headers),
                           body=request.get_data(cache=False), ip=request.remote_addr or "")
    answer = run(current_app.extensions["liuzhuan"]["session_factory"], node_hello,
                 NodeHello(signed, request.headers.get("Content-Encoding", "")))
    return jsonify(answer)


SYNC_OUT = {"description": "OK", "content": {"application/json": {"schema": {
    "type": "object", "properties": {
        "node": {"type": "string"}, "block": {"type": "integer"}, "server_time": {"type": "string"},
        "up_seq": {"type": "integer"}, "applied": {"type": "integer"}, "conflicts": {"type": "integer"},
        "sites": {"type": "array", "items": {"type": "integer"}}, "down": {"type": "object"}}}}}}


@hello_api.post("/sync", responses={"200": SYNC_OUT, **{c: ERRORS[c] for c in ("401", "409", "413", "422")}})
def sync() -> Response:
    """One sync exchange (signed like the hello; gzip welcome): the node's next change-log batch up,
    headquarters' cursor and the master data and moves the node lacks down.

    Body {"node", "version", "up": {"entries": [[seq, table, key], …], "rows": {table: [row, …]}} | null,
    "pending", "pending_since", "down": {"tables": {table: hash}, "moves_after"}}. A batch that does not
    start right after headquarters' cursor (``up_seq`` in the answer) is not applied; one applied before
    changes nothing. A row of another organisation, outside the node's id block or at a site it does not
    serve refuses the whole batch (VALIDATION_FAILED, 422). Signature refusals as for the hello.
    """
    signed = SignedRequest(method=request.method, path=request.path, headers=dict(request.headers),
                           body=request.get_data(cache=False), ip=request.remote_addr or "")
    answer = run(current_app.extensions["liuzhuan"]["session_factory"], node_exchange,
                 NodeExchange(signed, request.headers.get("Content-Encoding", "")))
    return jsonify(answer)
