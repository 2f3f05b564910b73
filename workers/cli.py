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
              help="Serve these queues (default: ingest, answer, outbound). Website syncs: a worker of their own "
                   "with --queue crawl (it also queues the scheduled syncs).")
@with_appcontext
def worker(burst: bool, fork: bool, name: str | None, queue_names: tuple) -> None:
    """Run an RQ worker on every queue (ingest, answer, outbound), with the retry scheduler."""
    run_worker(current_app._get_current_object(), burst=burst, fork=fork, name=name, queue_names=queue_names)


def run_worker(app, *, burst: bool = False, fork: bool = False, name: str | None = None,
               queue_names: tuple = ()) -> bool:
    from rq import SimpleWorker, Worker
    from rq.serializers import JSONSerializer

    from app.infra.kb import get_kb
    from app.infra.migrate import ensure_schema
    from app.infra.queues import QUEUE_NAMES, connection, get_queue

    from .context import set_app
    from .recovery import recover_interrupted_work

    set_app(app)
    with app.app_context():
        ensure_schema(app)
        get_kb()  # load the embedding model once, before the first job
        recover_interrupted_work()
        conn = connection()
        worker_class = Worker if fork else SimpleWorker
        names = tuple(queue_names) or QUEUE_NAMES
        rq_worker = worker_class([get_queue(q, conn) for q in names], connection=conn,
                                 serializer=JSONSerializer, name=name)
        stop = threading.Event()
        if "crawl" in names and not burst:
            from .sources import run_scheduler

            run_scheduler(stop)
        try:
            return rq_worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
        finally:
            stop.set()
