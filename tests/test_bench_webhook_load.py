"""bench/webhook_load.py's own rules: loopback targets only, the planned load, and its arithmetic
(the full run starts servers and takes minutes: `python -m bench.webhook_load`)."""

from __future__ import annotations

import pytest

from bench.load_client import Planned, Target, form, plan, require_loopback
from bench.stats import percentile
from bench.webhook_load import inversions, main


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://127.9.9.9", "http://localhost:5000",
                                 "http://[::1]:8000"])
def test_loopback_targets_are_accepted(url):
    assert require_loopback(url) == url


@pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "https://support.example.com", "http://0.0.0.0:8000",
                                 "http://[2001:db8::1]/", "not a url"])
def test_any_other_target_is_refused(url):
    with pytest.raises(SystemExit, match="only loopback targets"):
        require_loopback(url)
    with pytest.raises(SystemExit):
        Target(url, "whatsapp:+1", "AC1", "token")


def test_the_command_refuses_a_remote_url_and_unbounded_sizes():
    with pytest.raises(SystemExit):
        main(["--url", "http://192.168.1.10:8000", "--messages", "5"])
    with pytest.raises(SystemExit):
        main(["--messages", "1000000"])


def test_the_plan_spaces_messages_by_the_rate_and_redelivers_some_of_them():
    schedule = plan(100, rate=50, senders=10, duplicates=5)
    originals = [p for p in schedule if not p.duplicate]
    redeliveries = [p for p in schedule if p.duplicate]
    assert len(originals) == 100 and len(redeliveries) == 5
    assert len({p.sid for p in originals}) == 100 and {p.sid for p in redeliveries} <= {p.sid for p in originals}
    assert originals[1].at - originals[0].at == pytest.approx(0.02) and originals[-1].at == pytest.approx(1.98)
    assert len({p.sender for p in originals}) == 10
    assert [p.at for p in schedule] == sorted(p.at for p in schedule)
    first = {p.sid: p.at for p in originals}
    assert all(0.05 <= p.at - first[p.sid] <= 2.0 for p in redeliveries)
    assert plan(100, 50, 10, 5) == schedule  # the same seed plans the same load


def test_the_form_is_the_one_twilio_signs():
    fields = form(Planned(0.0, "SM" + "1" * 32, "whatsapp:+34600000001", "Hello"), "whatsapp:+14155550100", "AC1")
    assert fields["MessageSid"] == fields["SmsMessageSid"] == "SM" + "1" * 32
    assert (fields["From"], fields["To"], fields["Body"], fields["WaId"]) == (
        "whatsapp:+34600000001", "whatsapp:+14155550100", "Hello", "34600000001")


def test_percentiles_are_nearest_rank_and_inversions_count_adjacent_pairs():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50, 95, 99)
    assert percentile([7], 99) == 7
    when = {"a": 1, "b": 2, "c": 3}
    assert inversions(["a", "b", "c"], when) == 0 and inversions(["b", "a", "c"], when) == 1
    assert inversions(["c", "b", "a"], when) == 2


def test_the_load_starts_once_the_stack_is_quiet():
    import subprocess
    import sys

    from bench.webhook_load import wait_until_quiet

    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert wait_until_quiet({"web": idle.pid}, window_s=0.2, timeout_s=5)
        assert not wait_until_quiet({"web": busy.pid}, window_s=0.2, timeout_s=1)
    finally:
        idle.kill()
        busy.kill()


def test_the_run_waits_for_a_quiet_stack_before_it_offers_the_load(monkeypatch):
    """The wait above was once written and tested but never called: the load then met gunicorn's workers booting."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    import bench.load_stack
    import bench.webhook_load as webhook_load

    calls = []
    stack = SimpleNamespace(base_url="http://127.0.0.1:9", gunicorn_command=["gunicorn"], env={"DATABASE_URL": "x"},
                            twilio=None, pids=lambda: {"web": 1})

    @contextmanager
    def started_stack(*args, **kwargs):
        yield stack

    monkeypatch.setattr(bench.load_stack, "started_stack", started_stack)
    monkeypatch.setattr(webhook_load, "wait_until_quiet", lambda pids: calls.append("quiet") or False)
    monkeypatch.setattr(webhook_load, "warm_up", lambda target: calls.append("warm up"))
    monkeypatch.setattr(webhook_load, "offer", lambda target, schedule, seconds: calls.append("offer") or [])
    monkeypatch.setattr(webhook_load, "cpu_seconds", lambda pids: {})
    monkeypatch.setattr(webhook_load, "wait_for_replies", lambda *args: 0.0)
    monkeypatch.setattr(webhook_load, "delivery_report", lambda *args: {})
    args = SimpleNamespace(app_root=webhook_load.Path("."), gunicorn_args=None, logs=None, max_seconds=1,
                           max_wait=1, rate=200.0)
    report = webhook_load.run_on_stack(args, [])
    assert calls == ["quiet", "warm up", "quiet", "offer"]
    assert "never got quiet" in report["server"]
