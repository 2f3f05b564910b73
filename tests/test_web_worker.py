"""The web tier's gunicorn worker (app/infra/web_worker.py): a client slow to close its connection holds up
nobody else's request. Each case runs a real gunicorn (one process) in front of a tiny WSGI app."""

from __future__ import annotations

import socket
import time

import pytest

from bench.slow_close import offer, started_gunicorn

STOCK, OURS = "gthread", "app.infra.web_worker.LingerOffThreadWorker"
REQUEST = b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=b"


@pytest.fixture
def serve(tmp_path):
    """Start a real gunicorn (bench.slow_close's: one process, 4 threads, a tiny WSGI app) with a worker class;
    its port."""
    started = []

    def start(worker_class: str) -> int:
        process, port = started_gunicorn(worker_class, tmp_path)
        started.append(process)
        return port

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def ask(port: int) -> socket.socket:
    """Send a request that asks for the connection to be closed, read the whole response (up to the server's
    FIN), and return the socket still open: the client has not closed its side yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(REQUEST)
    response = b""
    while chunk := sock.recv(4096):
        response += chunk
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"ok"), response
    return sock


def time_after_a_slow_closer(port: int) -> float:
    lingering = ask(port)  # kept open: gunicorn's graceful close waits for it (2 s at most)
    try:
        started = time.monotonic()
        ask(port).close()
        return time.monotonic() - started
    finally:
        lingering.close()


def test_a_client_slow_to_close_holds_up_the_next_request_on_stock_gthread(serve):
    """Why the worker exists: gunicorn 27's gthread waits for the client's close on its main thread."""
    assert time_after_a_slow_closer(serve(STOCK)) > 1.5  # its close waits 2 s for the client


def test_a_client_slow_to_close_holds_up_nobody_on_ours(serve):
    port = serve(OURS)
    assert max(time_after_a_slow_closer(port) for _ in range(3)) < 1.0  # milliseconds, unless the host is very busy


def test_ours_lingers_where_the_client_sent_more_and_still_closes_when_it_never_does(serve):
    """Bytes the client sent past its request are still unread when the response is done: closing then would
    answer them with a reset that can cut the response short, so the socket lingers (in the poller, not on the
    main thread) — and is closed once its 2 s are up."""
    port = serve(OURS)
    lingering = socket.create_connection(("127.0.0.1", port), timeout=10)
    lingering.sendall(REQUEST.replace(b"/hook", b"/slow"))
    time.sleep(0.2)
    lingering.sendall(b"GET /more HTTP/1.1\r\nHost: x\r\n\r\n")  # arrives while the app works: left unread
    response = b""
    while chunk := lingering.recv(4096):
        response += chunk
    assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"ok"), response
    started = time.monotonic()
    ask(port).close()  # the main thread is not waiting on the lingering socket
    assert time.monotonic() - started < 1.0
    for _ in range(2):  # still open on the server's side: what the client sends is read, not reset
        lingering.send(b"y")
        time.sleep(0.2)
    try:
        time.sleep(3.5)  # 2 s, and the main loop's one-second turn
        with pytest.raises(OSError):  # the server's socket is gone: the kernel answers with a reset
            for _ in range(3):
                lingering.send(b"x")
                time.sleep(0.2)
    finally:
        lingering.close()


def test_the_slow_close_bench_measures_ours_serving_while_clients_linger(tmp_path):
    """A slice of `python -m bench.slow_close`: clients closing 50 ms late (stock gthread: 20 requests/s at most,
    each close holding the process' main thread)."""
    process, port = started_gunicorn(OURS, tmp_path)
    try:
        result = offer(port, requests=40, clients=8, close_after=0.05)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert result["rate"] > 60 and result["p99"] < 500, result
