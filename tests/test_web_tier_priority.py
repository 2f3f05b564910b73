"""The web tier keeps the CPU it needs next to a busy worker: the worker's own lower priority
(WORKER_NICE) and gunicorn's settings (gunicorn.conf.py), each checked in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.infra.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, **env) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_worker_nice_defaults_to_10_and_is_checked():
    assert load_config({"SECRET_KEY": "k"})["WORKER_NICE"] == 10
    assert load_config({"SECRET_KEY": "k", "WORKER_NICE": "0"})["WORKER_NICE"] == 0
    with pytest.raises(ConfigError, match="WORKER_NICE must be a whole number from 0 to 19, got '20'"):
        load_config({"SECRET_KEY": "k", "WORKER_NICE": "20"})


def test_the_worker_lowers_its_priority_and_threads_it_starts_afterwards_inherit_it():
    code = ("import os, threading\n"
            "from workers.cli import lower_priority\n"
            "before = os.getpriority(os.PRIO_PROCESS, 0)\n"
            "lower_priority(3)\n"
            "seen = []\n"
            "t = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, 0))); t.start(); t.join()\n"
            "print(before, os.getpriority(os.PRIO_PROCESS, 0) - before, seen[0] - before)\n")
    before, own, thread = map(int, run_python(code).split())
    lowered = min(3, 19 - before)  # nice stops at 19 (a runner that is itself niced)
    assert (own, thread) == (lowered, lowered)
    assert run_python(code.replace("lower_priority(3)", "lower_priority(0)")).split()[1:] == ["0", "0"]


def gunicorn_settings(**env) -> dict:
    code = ("import runpy, json\n"
            "s = runpy.run_path('gunicorn.conf.py')\n"
            "print(json.dumps({k: s[k] for k in ('bind', 'worker_class', 'workers', 'threads')}))\n")
    import json

    return json.loads(run_python(code, **env))


def test_gunicorn_runs_two_gthread_processes_per_usable_core_unless_told():
    settings = gunicorn_settings()
    # gunicorn's gthread, its lingering closes off the main thread (tests/test_web_worker.py)
    assert settings["worker_class"] == "app.infra.web_worker.LingerOffThreadWorker" and settings["threads"] == 4
    assert settings["workers"] == 2 * len(os.sched_getaffinity(0))
    assert settings["bind"] == "0.0.0.0:8000"
    told = gunicorn_settings(GUNICORN_WORKERS="3", GUNICORN_THREADS="16", GUNICORN_BIND="127.0.0.1:9000",
                             WEB_CONCURRENCY="7")  # the website import's setting: not gunicorn's here
    assert (told["workers"], told["threads"], told["bind"]) == (3, 16, "127.0.0.1:9000")


def test_gunicorn_refuses_a_bad_worker_count():
    result = subprocess.run([sys.executable, "-c", "import runpy; runpy.run_path('gunicorn.conf.py')"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "GUNICORN_WORKERS": "many"})
    assert result.returncode != 0 and "GUNICORN_WORKERS must be a whole number above 0" in result.stderr


def test_a_gunicorn_worker_freezes_its_loaded_objects_out_of_the_collectors_walk():
    code = ("import gc, runpy\n"
            "settings = runpy.run_path('gunicorn.conf.py')\n"
            "from app import create_app\n"
            "create_app()\n"
            "before = gc.get_freeze_count()\n"
            "settings['post_worker_init'](None)\n"
            "print(before, gc.get_freeze_count())\n")
    before, frozen = map(int, run_python(code, SECRET_KEY="k").split())
    assert before == 0 and frozen > 50_000
