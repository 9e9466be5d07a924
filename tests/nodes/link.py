"""A node's link to headquarters in the multi-node harness: a small threaded TCP proxy on loopback.

The node's LIUZHUAN_HQ_URL points here; the proxy forwards to headquarters' real port. Its mode
decides what a new connection gets:

- ``up``: forwarded both ways, as a working uplink;
- ``down``: accepted and closed at once, as a cut cable (the node's request fails before it is sent);
- ``drop_answers``: the request goes to headquarters, and as soon as its answer starts (so the
  exchange is committed there) the node's socket is closed without a byte of it — headquarters
  applied the batch, the node never learnt.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Literal

Mode = Literal["up", "down", "drop_answers"]
MODES: tuple[Mode, ...] = ("up", "down", "drop_answers")


class Link:
    """A TCP proxy from a loopback port of its own to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode: Mode = "up"
        #: Connections accepted, refused (down) and answers swallowed (drop_answers): tests read them.
        self.accepted = 0
        self.refused = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name=f"link-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, mode: Mode) -> None:
        """Change what new connections get (one already forwarding keeps going)."""
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):  # shutdown wakes the blocked accept(); close alone does not
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            mode = self.mode
            with self._lock:
                self.accepted += 1
            if mode == "down":
                with self._lock:
                    self.refused += 1
                # Reset rather than a polite FIN: the client sees its connection refused outright.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            threading.Thread(target=self._forward, args=(client, mode), daemon=True).start()

    def _forward(self, client: socket.socket, mode: Mode) -> None:
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        socks = [client, upstream]
        try:
            while True:
                # No timeout of our own: the node's requests have one, and headquarters answers or closes.
                ready, _, _ = select.select(socks, [], [])
                for s in ready:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        return  # either side closed (the node killed, headquarters done): close both
                    if s is client:
                        upstream.sendall(data)
                    elif mode == "drop_answers":
                        with self._lock:
                            self.dropped += 1
                        return  # headquarters has committed and answers: the node never hears it
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()
