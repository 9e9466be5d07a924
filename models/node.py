"""Which node this process is: headquarters ("server") or an edge node (LIUZHUAN_NODE=N1).

An edge node issues its own document and voucher numbers, and they must never collide with
headquarters' or another node's once the ledgers merge (issue 14): so every human number a node
issues carries its code (RK-SX-N1-20261205-0007, 记-N1-202612-00012) and comes from a counter of
its own (series "RK-SX-N1", "voucher-N1"). Headquarters' numbers keep their shape.

The code is set once per process by its composition root (app.factory for the web, the Celery
worker's app), from app.settings — the model never imports the app. Unset, a process is "server".
"""

from __future__ import annotations

import re

#: The node code of headquarters (and of every process not configured as an edge node).
SERVER = "server"

#: An edge node's code: short, upper-case, so numbers stay within documents.number (48 characters).
NODE_CODE = re.compile(r"[A-Z0-9]{1,8}")

_code = SERVER
#: An edge node's id block (its id at headquarters), learnt at its first exchange: see id_range().
_block: int | None = None

#: Ids of the replicated tables are global: headquarters allocates below BLOCK, node k in
#: [k * BLOCK, (k + 1) * BLOCK). 2**40 ids each; at most 8191 nodes, so that every id stays below
#: 2**53 and a JavaScript client (the mini-program, the console) reads it exactly.
BLOCK = 2**40


def valid_code(code: str) -> bool:
    """Tell whether ``code`` may name a node: "server" or 1–8 upper-case letters and digits."""
    return code == SERVER or NODE_CODE.fullmatch(code) is not None


def configure(code: str, block: int | None = None) -> None:
    """Set this process's node code (app.factory and the worker, from LIUZHUAN_NODE) and, when
    known, its id block (models.operations.replication learns it at the first exchange)."""
    global _code, _block
    if not valid_code(code):
        raise ValueError(f"invalid node code {code!r}: 'server' or [A-Z0-9]{{1,8}}")
    _code = code
    _block = block


def set_block(block: int) -> None:
    """Remember this node's id block (its id at headquarters)."""
    global _block
    if block < 1 or block >= 2**13:
        raise ValueError(f"invalid id block {block}")
    _block = block


def block() -> int | None:
    """This node's id block, None at headquarters or before the node's first exchange."""
    return _block if _code != SERVER else None


def id_range() -> tuple[int, int]:
    """The ids [low, high) this process may allocate in the replicated tables.

    Raises LookupError at an edge node that has never exchanged with headquarters: it has no master
    data yet either, so nothing can be posted there before the first sync anyway.
    """
    if _code == SERVER:
        return 1, BLOCK
    if _block is None:
        raise LookupError("node id block unknown: sync with headquarters once first")
    return _block * BLOCK, (_block + 1) * BLOCK


def current() -> str:
    """This process's node code ("server" at headquarters)."""
    return _code


def is_edge() -> bool:
    """Tell whether this process runs as an edge node."""
    return _code != SERVER


def tagged(series: str) -> str:
    """A number's series as this node issues it: "RK-SX" at headquarters, "RK-SX-N1" at node N1."""
    return series if _code == SERVER else f"{series}-{_code}"


def voucher_series() -> str:
    """The number_sequences series of this node's voucher numbers ("voucher", "voucher-N1")."""
    return tagged("voucher")


def origin(given: str) -> str:
    """The origin_node a move is written with: the default "server" means "made here", so it
    becomes this node's code; another origin (an offline phone's) is kept."""
    return _code if given == SERVER else given
