"""gunicorn's settings for the web tier: `gunicorn -c gunicorn.conf.py 'app:create_app()'` (README:
Running in production). gunicorn also reads this file by itself when started from this folder.

Sized by the cores this process may use: two processes per core, 4 threads each. Threads serve
requests that mostly wait (SSE answer streams, the database), but in one process they queue for
its one interpreter lock: at 200 webhooks/s on 2 cores beside a busy worker, 2 processes x 8
threads acknowledged with p99 37-77 ms, 4 x 4 with p99 30-35 ms (bench.webhook_load, alternated).
Override with GUNICORN_WORKERS / GUNICORN_THREADS / GUNICORN_BIND (not WEB_CONCURRENCY, which
gunicorn would also read: here it is the website import's politeness setting).
"""

import os


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name} must be a whole number above 0, got {raw!r}")
    return int(raw)


bind = os.environ.get("GUNICORN_BIND", "").strip() or "0.0.0.0:8000"
worker_class = "app.infra.web_worker.LingerOffThreadWorker"  # gthread, its lingering closes off the main thread
workers = _positive("GUNICORN_WORKERS", 2 * _cores())
threads = _positive("GUNICORN_THREADS", 4)


def post_worker_init(worker):
    """Once the app is loaded in a worker, its objects (~200,000: Flask, SQLAlchemy, the engine's
    imports) leave the garbage collector's sight: a full collection walked them all, 82-93 ms
    (measured) in which no thread of the process ran. (At 200 webhooks/s the ack tail did not
    change measurably with it: CPU contention on 2 cores dominates; bench/README.md, section 6.)"""
    import gc

    gc.collect()  # what is garbage now is not kept forever
    gc.freeze()
