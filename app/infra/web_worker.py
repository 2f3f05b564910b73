"""gunicorn's gthread worker, with a finished connection's lingering close taken off its main thread.

gunicorn (27) closes a connection that is not kept alive gracefully (RFC 9112, section 9.6): it sends its FIN,
then reads until the client closes its side, up to 2 s. It does so on the worker's main thread, the one that
accepts connections and hands requests to the thread pool, so every such close makes the whole process wait
for one client. A client that asks for ``Connection: close`` (the load bench's does, with a connection per
webhook) costs that wait on every request: at 200 webhooks a second each process waited on every client in turn,
and over a network each wait is a round trip (``python -m bench.slow_close``). Here the
lingering close runs on a small pool of its own; the main thread goes straight back to accepting.

Used by gunicorn.conf.py (``worker_class``); the rest is gunicorn's own gthread worker.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from gunicorn.workers.gthread import ThreadWorker

# A close waits for its client: a round trip, 2 s at most (a client that never closes). 32 threads close
# 160 connections a second per process at 200 ms round trips, 16 of such clients a second at worst.
CLOSING_THREADS = 32


class LingerOffThreadWorker(ThreadWorker):
    def init_process(self):
        self._closer = ThreadPoolExecutor(max_workers=CLOSING_THREADS, thread_name_prefix="close")
        super().init_process()  # runs the worker until it stops

    def finish_request(self, conn, fs):
        close = conn.close

        def close_elsewhere(graceful: bool = False) -> None:
            if graceful:
                self._closer.submit(close, True)
            else:
                close()

        conn.close = close_elsewhere  # what gunicorn calls on this connection while finishing the request
        try:
            super().finish_request(conn, fs)
        finally:
            del conn.close
