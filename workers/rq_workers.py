"""RQ workers that survive Redis outages, and whose retry scheduler never outlives them nor blocks the next one.

* Redis goes away: RQ's own loop retries with backoff (at most MAX_BACKOFF seconds apart); when
  Redis answers again, ``on_reconnect`` runs (the worker queues again what the outage may have lost:
  messages stored by webhooks meanwhile, documents uploaded meanwhile).

RQ runs the scheduler (what enqueues retries when they are due) in a forked child holding a lock per
queue in Redis. Two things made retries late or leaked processes:

* A worker killed with SIGKILL left its scheduler child running on its own, forever. Here the
  scheduler stops (releasing its locks) as soon as its worker is gone.
* A scheduler killed outright left its lock in Redis for its TTL; a worker started meanwhile could not
  take it and only tried again at its next maintenance run (10 minutes by default) — a retry due in
  10 s ran 12 minutes late. Here a scheduler's name says which process holds the lock
  (``host.pid.random``): a new worker takes over locks whose holder is dead at once, and maintenance
  runs every MAINTENANCE_INTERVAL seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from rq import SimpleWorker, Worker
from rq.scheduler import RQScheduler
from rq.scripts import release_lock

from rag_engine.reaper import alive

log = logging.getLogger(__name__)
MAINTENANCE_INTERVAL = 30  # seconds (RQ's default is 600)


def scheduler_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True when a lock's holder is a scheduler of a process on this machine that no longer runs."""
    parts = holder.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    return parts[0] == socket.gethostname() and not alive(int(parts[1]))


def release_dead_schedulers_locks(connection, queue_names) -> list[str]:
    """Free the scheduler locks of queues whose holder died; returns the queues freed."""
    freed = []
    for name in queue_names:
        key = RQScheduler.get_locking_key(name)
        holder = connection.get(key)
        holder = holder.decode() if isinstance(holder, bytes) else holder
        if holder and holder_is_dead(holder) and release_lock(connection, key, holder):
            log.info("released the scheduler lock of %s held by %s, a process that is gone", name, holder)
            freed.append(name)
    return freed


class BoundScheduler(RQScheduler):
    """RQ's scheduler, stopping (and releasing its locks) when the worker that forked it is gone."""

    def work(self):
        parent = os.getppid()
        self._install_signal_handlers()
        self.register_birth()
        while True:
            if self._stop_requested or os.getppid() != parent:
                self.stop()
                break
            if self.should_reacquire_locks:
                self.acquire_locks()
            self.heartbeat()
            self.enqueue_scheduled_jobs()
            time.sleep(self.interval)


class _ResilientMixin:
    max_connection_wait_time = 30.0  # RQ's backoff between attempts to reach Redis: at most this
    on_reconnect = None  # called (no arguments) once Redis answers again after an outage
    _redis_lost = False

    def heartbeat(self, *args, **kwargs):
        import redis

        try:
            result = super().heartbeat(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError):
            if not self._redis_lost:
                log.warning("worker %s lost Redis: waiting for it", self.name)
            self._redis_lost = True
            raise
        if self._redis_lost:
            self._redis_lost = False
            log.info("worker %s: Redis is back", self.name)
            if self.on_reconnect is not None:
                try:
                    self.on_reconnect()
                except Exception:
                    log.exception("recovery after the Redis outage failed (it runs again at the next start)")
        return result

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=None, log_format=None):
        from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT

        release_dead_schedulers_locks(self.connection, [q.name for q in self.queues])
        self.scheduler = BoundScheduler(
            self.queues, connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format or DEFAULT_LOGGING_DATE_FORMAT, log_format=log_format or DEFAULT_LOGGING_FORMAT,
            serializer=self.serializer, name=scheduler_name())
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()

    def run_maintenance_tasks(self):
        if self.last_cleaned_at and self.scheduler is not None:
            release_dead_schedulers_locks(self.connection, [q.name for q in self.queues])
        return super().run_maintenance_tasks()


class ForkingWorker(_ResilientMixin, Worker):
    pass


class InProcessWorker(_ResilientMixin, SimpleWorker):
    pass
