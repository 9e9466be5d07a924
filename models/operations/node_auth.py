"""Signed requests from an edge node to headquarters: the scheme, its verification, and the hello.

The node signs ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nSHA256(body) hex`` with HMAC-SHA256 under its key
and sends it in four headers (X-Liuzhuan-Node, X-Liuzhuan-Timestamp, X-Liuzhuan-Nonce,
X-Liuzhuan-Signature, the signature as hex); PATH is the URL path without the query string.
Headquarters refuses, changing nothing:

- NODE_UNKNOWN (401): no node of that code, or the node that signed is deactivated;
- NODE_SIGNATURE_INVALID (401): the signature does not match (wrong key, body, path or method), or the
  body names another node;
- NODE_CLOCK_SKEW (401): the timestamp is more than 300 s from headquarters' clock;
- NODE_REPLAYED (409): the nonce was already used by this node within the window.

The signature is checked before the clock and the nonce, so a caller without the key learns nothing
about either. Nonces are kept (node_nonces) only as long as the timestamp window accepts them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.actor import Actor
from models.base import utcnow
from models.errors import (
    BodyTooLarge,
    NodeClockSkew,
    NodeReplayed,
    NodeSignatureInvalid,
    NodeUnknown,
    ValidationError,
)
from models.nodes import Node, NodeNonce, NodeSite
from models.operations.nodes import CODE, RecordNodeContact, record_node_contact
from models.org import Site

SKEW = timedelta(seconds=300)
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
H_NODE, H_TIMESTAMP, H_NONCE, H_SIGNATURE = (
    "X-Liuzhuan-Node", "X-Liuzhuan-Timestamp", "X-Liuzhuan-Nonce", "X-Liuzhuan-Signature")
#: A node code is unique per organisation only: the key tells apart two organisations' nodes of one code.
MAX_CANDIDATES = 50


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """What the node signs: method, path, timestamp, nonce and the body's SHA-256, one per line."""
    return "\n".join((method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest())).encode()


def sign(key: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of the request under the node's key."""
    return hmac.new(key.encode(), string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def signed_headers(node: str, key: str, method: str, path: str, body: bytes,
                   now: datetime | None = None, nonce: str | None = None) -> dict[str, str]:
    """The headers a node sends with a request (the node side of the scheme)."""
    timestamp = str(int((now or utcnow()).timestamp()))
    nonce = nonce or secrets.token_urlsafe(24)
    return {H_NODE: node, H_TIMESTAMP: timestamp, H_NONCE: nonce,
            H_SIGNATURE: sign(key, method, path, timestamp, nonce, body)}


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    ip: str = ""


def _header(req: SignedRequest, name: str) -> str:
    value = req.headers.get(name)
    return value if isinstance(value, str) else ""


def verify_node_request(session: Session, req: SignedRequest, now: datetime | None = None) -> Node:
    """Return the active node that signed ``req``, having claimed its nonce; else refuse (see module doc).

    The nonce is added to the session (not committed): the caller's transaction keeps it with whatever
    the request changes, and a refusal rolls both back.
    """
    now = now or utcnow()
    code = _header(req, H_NODE)
    timestamp, nonce, signature = _header(req, H_TIMESTAMP), _header(req, H_NONCE), _header(req, H_SIGNATURE)
    if not CODE.fullmatch(code):
        raise NodeUnknown()
    # Deactivated ones too: a stopped node's own, well-signed request is told NODE_UNKNOWN.
    candidates = session.scalars(select(Node).where(Node.code == code).order_by(Node.id).limit(MAX_CANDIDATES)).all()
    node = None
    for candidate in candidates:  # each compared in constant time; the key alone names the organisation
        expected = sign(candidate.key, req.method, req.path, timestamp, nonce, req.body)
        if hmac.compare_digest(expected.encode(), signature.encode()) and node is None:
            node = candidate
    if node is None:
        raise NodeSignatureInvalid() if any(c.active for c in candidates) else NodeUnknown()
    if not node.active:
        raise NodeUnknown()
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or \
            abs(int(timestamp) - now.timestamp()) > SKEW.total_seconds():
        raise NodeClockSkew(server_time=now.isoformat())
    if not NONCE.fullmatch(nonce):
        raise NodeSignatureInvalid("节点请求的随机串格式不对")
    session.execute(delete(NodeNonce).where(NodeNonce.expires_at < now))
    taken = session.scalar(select(NodeNonce.id).where(NodeNonce.node_id == node.id, NodeNonce.nonce == nonce))
    if taken is not None:
        raise NodeReplayed()
    try:
        with session.begin_nested():  # a concurrent twin: its unique key refuses the second one
            session.add(NodeNonce(node_id=node.id, nonce=nonce, expires_at=now + 2 * SKEW))
    except IntegrityError:
        raise NodeReplayed() from None
    return node


#: Largest body a node may send once unpacked: a gzip bomb stops here, not in memory.
MAX_UNPACKED = 10 * 1024 * 1024


def unpack(body: bytes, encoding: str) -> bytes:
    """The body as the node meant it: gzip-inflated (at most MAX_UNPACKED bytes) or as sent."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > MAX_UNPACKED:
            raise BodyTooLarge()
        return body
    if encoding != "gzip":
        raise ValidationError("只接受 gzip 压缩的请求体", field="Content-Encoding")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_UNPACKED + 1)  # bounded: never more than the cap in memory
    except zlib.error:
        raise ValidationError("gzip 请求体已损坏", field="body") from None
    if len(out) > MAX_UNPACKED or inflater.unconsumed_tail:
        raise BodyTooLarge()
    if not inflater.eof:
        raise ValidationError("gzip 请求体不完整", field="body")
    return out


@dataclass(frozen=True)
class NodeHello:
    """A hello as it arrived: the signature covers ``request.body`` as sent (compressed or not)."""

    request: SignedRequest
    content_encoding: str = ""


def read_body(request: SignedRequest, content_encoding: str, node: Node) -> dict[str, Any]:
    """A verified request's body as a JSON object (unpacked only now: an unsigned gzip bomb costs
    nothing); a body naming another node than the one that signed is refused."""
    try:
        data = json.loads(unpack(request.body, content_encoding) or b"{}")
    except (ValueError, RecursionError):
        raise ValidationError("请求体须是 JSON 对象", field="body") from None
    if not isinstance(data, dict):
        raise ValidationError("请求体须是 JSON 对象", field="body")
    if data.get("node", node.code) != node.code:
        raise NodeSignatureInvalid("请求体里的节点编号与签名的节点不一致")
    return data


def node_hello(session: Session, hello: NodeHello) -> dict[str, Any]:
    """Verify a node's hello, record its contact, and answer the server time, its sites and cursors.

    The body is {"node": CODE, "version": ..., "sent_at": ...}; it is unpacked only after the signature
    holds, so an unsigned gzip bomb costs nothing. The up cursor is headquarters' ``nodes.up_seq``;
    replication itself is ``POST /api/v1/nodes/sync`` (models.operations.node_exchange).
    """
    node = verify_node_request(session, hello.request)
    data = read_body(hello.request, hello.content_encoding, node)
    version = data.get("version")
    now = utcnow()
    record_node_contact(session, Actor.system_actor(node.org_id, f"节点 {node.code}"),
                        RecordNodeContact(node.id, hello.request.ip, str(version)[:32] if version else "", at=now))
    sites = session.execute(select(Site.id, Site.code, Site.name).join(NodeSite, NodeSite.site_id == Site.id)
                            .where(NodeSite.node_id == node.id).order_by(Site.code)).all()
    return {"node": node.code, "name": node.name, "server_time": now.isoformat(),
            "sites": [{"id": s.id, "code": s.code, "name": s.name} for s in sites],
            "cursors": {"up": node.up_seq, "down": 0}, "block": node.id}
