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
from models.queries.nodes import list_nodes
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
