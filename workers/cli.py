"""`flask --app app worker` (registered through the flask.commands entry point)."""

from __future__ import annotations

import logging
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

log = logging.getLogger(__name__)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
@click.option("--fork/--no-fork", default=False, show_default=True,
              help="Run each job in a forked child (isolation) instead of in the worker process (warm model).")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
@click.option("--queue", "queue_names", multiple=True, type=click.Choice(["ingest", "answer", "outbound", "crawl"]),
              help="Serve these queues (default: outbound, ingest, answer, in that order of priority). Website syncs: a worker of their own "
                   "with --queue crawl (it also queues the scheduled syncs).")
@with_appcontext
def worker(burst: bool, fork: bool, name: str | None, queue_names: tuple) -> None:
    """Run an RQ worker on every queue (outbound first, then ingest, then answer), with the retry scheduler."""
    run_worker(current_app._get_current_object(), burst=burst, fork=fork, name=name, queue_names=queue_names)


def run_worker(app, *, burst: bool = False, fork: bool = False, name: str | None = None,
               queue_names: tuple = ()) -> bool:
    """Work the queues until stopped. When Redis goes away the worker waits for it (backing off up to
    MAX_BACKOFF seconds) and, once it is back, queues again what the outage may have lost."""
    from rq.serializers import JSONSerializer

    from app.infra.kb import get_kb
    from app.infra.migrate import ensure_schema
    from app.infra.queues import QUEUE_NAMES, connection, get_queue

    from .context import set_app
    from .recovery import recover_interrupted_work
    from .rq_workers import MAINTENANCE_INTERVAL, ForkingWorker, InProcessWorker

    set_app(app)
    with app.app_context():
        ensure_schema(app)
        conn = connection()
        conn.ping()  # starts the embedded Redis (like ensure_schema the embedded PostgreSQL) at full priority
        lower_priority(app.config.get("WORKER_NICE", 0))
        get_kb()  # load the embedding model once, before the first job (its threads inherit the priority)
        names = tuple(queue_names) or QUEUE_NAMES
        stop = threading.Event()
        if "crawl" in names and not burst:
            from .sources import run_scheduler

            run_scheduler(stop)
        worker_class = ForkingWorker if fork else InProcessWorker

        def make_worker():
            return worker_class([get_queue(q, conn) for q in names], connection=conn, serializer=JSONSerializer,
                                name=name, maintenance_interval=MAINTENANCE_INTERVAL)

        try:
            return _work_until_stopped(conn, make_worker, burst, recover_interrupted_work)
        finally:
            stop.set()


def lower_priority(increment: int) -> None:
    """Lower this process' CPU priority by ``increment`` (WORKER_NICE): where the web tier shares the cores,
    answering a backlog then takes only the CPU it leaves, and acknowledgements stay fast. On Linux nice
    is per thread: threads started after this (the embedding model's) inherit it; servers started before
    it (the embedded PostgreSQL and Redis, which the web tier uses too) keep full priority."""
    import os

    if increment > 0 and hasattr(os, "nice"):
        try:
            log.info("worker priority lowered to nice %d (WORKER_NICE)", os.nice(increment))
        except OSError as err:
            log.warning("could not lower the worker's priority (WORKER_NICE=%d): %s", increment, err)


def _work_until_stopped(conn, make_worker, burst: bool, recover) -> bool:
    import redis

    delay = 1.0
    while True:
        rq_worker = None
        try:
            recover()
            rq_worker = make_worker()
            rq_worker.on_reconnect = recover
            worked = rq_worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
            if burst or rq_worker._stop_requested or _redis_up(conn):
                return worked
        except (redis.ConnectionError, redis.TimeoutError) as err:
            if burst:
                raise
            log.warning("Redis is unreachable (%s)", err)
        if rq_worker is not None and rq_worker._stop_requested:
            return False
        delay = _wait_for_redis(conn, delay)


MAX_BACKOFF = 30.0  # seconds between attempts to reach Redis again (as workers/rq_workers.py)


def _redis_up(conn) -> bool:
    import redis

    try:
        return bool(conn.ping())
    except redis.RedisError:
        return False


def _wait_for_redis(conn, delay: float) -> float:
    """Sleep and retry with exponential backoff until Redis answers; the next delay to use after an outage."""
    import signal
    import sys
    import time

    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stoppable while waiting
    try:
        while True:
            log.warning("waiting %.0f s for Redis before working again", delay)
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
            if _redis_up(conn):
                log.info("Redis is back: recovering interrupted work and working again")
                return 1.0
    finally:
        signal.signal(signal.SIGTERM, previous)
