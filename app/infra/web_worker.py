"""gunicorn's gthread worker, with a finished connection's lingering close taken off its main thread.

gunicorn (27) closes a connection that is not kept alive gracefully (RFC 9112, section 9.6): it sends its FIN,
then reads until the client closes its side, up to 2 s. It does so on the worker's main thread, the one that
accepts connections and hands requests to the thread pool, so every such close makes the whole process wait
for one client. A client that asks for ``Connection: close`` (the load bench's does, with a connection per
webhook) costs that wait on every request: at 200 webhooks a second each process waited on every client in turn,
and over a network each wait is a round trip (``python -m bench.slow_close``).

Here the main thread reads what is there without waiting. With nothing of the client's left unread (a client that
sent its whole request and waits for the answer) the socket is closed at once: the close sends a FIN, and the
reset the RFC's lingering guards against comes only from unread data. With data left, our FIN goes out and the
socket waits in the worker's own poller, beside the kept-alive connections, until the client's FIN or the same
2 s. (A pool of closing threads, tried first, cost ~0.15 ms more CPU a request; lingering in the poller for every
connection ~0.1 ms.)

Used by gunicorn.conf.py (``worker_class``); the rest is gunicorn's own gthread worker.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections import deque
from functools import partial

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

LINGER_SECONDS = 2.0  # as gunicorn's own graceful close
MAX_DRAIN = 65536  # what it reads at most before closing anyway


def drained(sock: socket.socket) -> bool:
    """Read what the client sent, without waiting: True when there is nothing left to wait for (its FIN is in,
    the connection is gone, or the cap is reached)."""
    try:
        for _ in range(MAX_DRAIN // 4096):
            if not sock.recv(4096):
                return True
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def closable_now(sock: socket.socket) -> bool:
    """Whether the socket can be closed at once: nothing the client sent is left unread (so closing sends a FIN,
    not the reset that could cut the response short, RFC 9112 section 9.6), or the client has closed already.
    Otherwise our FIN goes out and the caller lingers for the client's."""
    try:
        sock.setblocking(False)
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True  # nothing unread: a plain close, as gunicorn did before its graceful close
    except OSError:
        return True
    if drained(sock):
        return True
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return True
    return False


class LingerOffThreadWorker(ThreadWorker):
    def init_process(self):
        self._lingering = deque()  # [deadline, socket or None once closed], in the order of their deadlines
        super().init_process()  # runs the worker until it stops

    def finish_request(self, conn, fs):
        close = conn.close

        def close_without_waiting(graceful: bool = False) -> None:
            if not graceful or closable_now(conn.sock):
                close()
            else:
                self._linger(conn.sock)

        conn.close = close_without_waiting  # what gunicorn calls on this connection while finishing the request
        try:
            super().finish_request(conn, fs)
        finally:
            del conn.close

    def _linger(self, sock: socket.socket) -> None:
        entry = [time.monotonic() + LINGER_SECONDS, sock]
        try:
            self.poller.register(sock, selectors.EVENT_READ, partial(self._on_lingering_readable, entry))
        except (OSError, ValueError, KeyError):
            util.close(sock)
            return
        self._lingering.append(entry)

    def _on_lingering_readable(self, entry: list, sock) -> None:
        if drained(sock):
            self._close_lingering(entry)

    def _close_lingering(self, entry: list) -> None:
        sock, entry[1] = entry[1], None
        if sock is None:
            return
        try:
            self.poller.unregister(sock)
        except (OSError, ValueError, KeyError):
            pass
        util.close(sock)

    def murder_keepalived(self, force=False):
        """gunicorn's sweep of idle kept-alive connections (every turn of the main loop, and all of them when
        stopping): lingering closes past their deadline go with them."""
        super().murder_keepalived(force)
        now = time.monotonic()
        while self._lingering and (force or self._lingering[0][0] <= now):
            self._close_lingering(self._lingering.popleft())
