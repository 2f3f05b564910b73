"""Clients that close a round trip late: gunicorn's stock gthread worker against ours (app/infra/web_worker.py).

    python -m bench.slow_close [--requests 200] [--clients 20] [--close-after 0,20,100]

Over a network a client's FIN reaches the server a round trip after the server's: gunicorn 27's gthread waits
for it on the worker's main thread (its graceful close), so each connection that asked ``Connection: close``
(a client with a connection per request) holds every other request of the process for that long. On the loopback the load
bench's client closes at once, so this bench stands in for the network: raw-socket clients that read the
whole response, wait ``--close-after`` ms, then close. One gunicorn process, 4 threads, in front of a tiny WSGI
app (no database: only the server is measured), each worker class in turn; loopback only, bounded in count.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
WORKERS = {"stock gthread": "gthread", "ours": "app.infra.web_worker.LingerOffThreadWorker"}
REQUEST = b"POST /hook HTTP/1.1\r\nHost: bench\r\nContent-Length: 3\r\nConnection: close\r\n\r\na=b"
# (/slow takes half a second: the tests send a request's bytes while the app still works on it)
TINY_APP = ("import time\n"
            "def app(environ, start_response):\n"
            "    environ['wsgi.input'].read()\n"
            "    if environ['PATH_INFO'] == '/slow':\n"
            "        time.sleep(0.5)\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '2')])\n"
            "    return [b'ok']\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def started_gunicorn(worker_class: str, folder: Path) -> tuple[subprocess.Popen, int]:
    """One gunicorn process (4 threads, ``worker_class``) serving ``TINY_APP`` from ``folder`` (so the project's
    gunicorn.conf.py is not read), once its worker answers a request."""
    (folder / "tinyapp.py").write_text(TINY_APP)
    port = free_port()
    with (folder / "gunicorn.log").open("wb") as log:  # the child keeps its own copy of the file
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "--threads", "4", "-k", worker_class,
                                    "-b", f"127.0.0.1:{port}", "--pythonpath", f"{folder},{ROOT}", "tinyapp:app"],
                                   cwd=folder, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:  # the worker, not only the port
                sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if sock.recv(12).startswith(b"HTTP/1.1 200"):
                    return process, port
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"gunicorn ({worker_class}) did not start: {(folder / 'gunicorn.log').read_text()[-2000:]}")


def offer(port: int, requests: int, clients: int, close_after: float) -> dict:
    """``requests`` requests from ``clients`` threads; each response timed from connect to the server's FIN."""
    latencies: list[float] = []
    lock = threading.Lock()
    left = iter(range(requests))

    def client() -> None:
        while True:
            with lock:
                if next(left, None) is None:
                    return
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(REQUEST)
                while sock.recv(4096):
                    pass
                with lock:
                    latencies.append(time.monotonic() - started)
                time.sleep(close_after)  # the client's FIN, a round trip later

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"rate": requests / (time.monotonic() - started), "p50": percentile(latencies, 50) * 1000,
            "p99": percentile(latencies, 99) * 1000}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--close-after", default="0,20,100", help="comma-separated ms")
    args = parser.parse_args(argv)
    delays = [float(d) for d in args.close_after.split(",") if d.strip()]
    if not (0 < args.requests <= 5000 and 0 < args.clients <= 200 and all(0 <= d <= 2000 for d in delays)):
        parser.error("--requests 1..5000, --clients 1..200, --close-after 0..2000 ms each")
    print("| worker | client closes after | requests/s | response p50 | response p99 |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-slow-close-") as tmp:
        for name, worker_class in WORKERS.items():
            process, port = started_gunicorn(worker_class, Path(tmp))
            try:
                for delay in delays:
                    r = offer(port, args.requests, args.clients, delay / 1000)
                    print(f"| {name} | {delay:g} ms | {r['rate']:.0f} | {r['p50']:.1f} ms | {r['p99']:.1f} ms |",
                          flush=True)
            finally:
                process.terminate()
                process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
