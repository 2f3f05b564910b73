"""Signed WhatsApp webhooks under load against the production-style stack (issue 12).

    python -m bench.webhook_load                                  # 2,000 webhooks at 200/s (+2 % redeliveries)
    python -m bench.webhook_load --messages 400 --rate 100        # smaller
    python -m bench.webhook_load --app-root ../main               # the same load on another checkout's code

Starts embedded PostgreSQL + Redis, a company with a WhatsApp number and two Contoso PDFs, a local
Twilio stand-in answering 201, gunicorn (the checkout's gunicorn.conf.py) and one
``flask --app app worker``; offers the webhooks open-loop at the given rate, waits (bounded) until
every message's reply reached the stand-in, and reports acknowledgement latency, end-to-end reply
latency and correctness. ``--url`` points it at a stack already running instead (loopback only:
it refuses any other host); the report then has acknowledgement figures only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench.load_client import Outcome, Target, offer, plan, require_loopback, warm_up
from bench.stats import percentile

MAX_MESSAGES, MAX_RATE = 20_000, 1_000  # bounds: this is a benchmark, not a flood


def ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def ack_report(outcomes: list[Outcome], rate: float) -> dict:
    originals = [o for o in outcomes if not o.planned.duplicate]
    ok = [o for o in outcomes if 200 <= o.status < 300]
    first = min((o.planned.at for o in originals), default=0.0)
    last_done = max((o.done_after for o in originals if o.status), default=0.0)
    return {
        "offered": len(originals), "redeliveries": len(outcomes) - len(originals), "offered_rate": rate,
        "acknowledged": len(ok), "failed": len(outcomes) - len(ok),
        "errors": dict(Counter(o.error or str(o.status) for o in outcomes if o not in ok)),
        "achieved_rate": round(sum(1 for o in originals if o.status) / max(last_done - first, 1e-9), 1),
        "ack_from_send_ms": {f"p{q}": float(ms(percentile([o.from_send for o in ok], q))) for q in (50, 95, 99)},
        "ack_from_schedule_ms": {f"p{q}": float(ms(percentile([o.from_schedule for o in ok], q)))
                                 for q in (50, 95, 99)},
        "ack_max_ms": float(ms(max((o.from_send for o in ok), default=0.0))),
    }


def _rows(database_uri: str):
    import sqlalchemy as sa

    from rag_engine.database import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(database_uri))
    with engine.connect() as conn:
        customers = conn.execute(sa.text(
            "SELECT m.id, m.channel_message_id, m.created_at, c.customer_id FROM messages m "
            "JOIN conversations c ON c.id = m.conversation_id WHERE m.role = 'customer' AND m.channel = 'whatsapp'"
        )).all()
        replies = conn.execute(sa.text(
            "SELECT reply_to_id, delivery_status, channel_meta, created_at FROM messages "
            "WHERE role = 'assistant' AND channel = 'whatsapp'")).all()
        conversations = conn.execute(sa.text(
            "SELECT customer_id, count(*) FROM conversations WHERE channel = 'whatsapp' GROUP BY customer_id")).all()
    engine.dispose()
    return customers, replies, conversations


def replies_sent(database_uri: str) -> int:
    import sqlalchemy as sa

    from rag_engine.database import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(database_uri))
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM messages WHERE role = 'assistant' AND channel = 'whatsapp' "
                                     "AND delivery_status IN ('sent', 'failed')")).scalar_one()
    engine.dispose()
    return count


def delivery_report(outcomes: list[Outcome], database_uri: str, twilio) -> dict:
    """Stored once, answered once, sent once, order kept; reply latencies (stand-in's clock = ours)."""
    customers, replies, conversations = _rows(database_uri)
    sent_wall = {o.planned.sid: o.sent_wall for o in outcomes if not o.planned.duplicate}
    send_order = {o.planned.sid: o.planned.at for o in outcomes if not o.planned.duplicate}
    stored = Counter(row.channel_message_id for row in customers)
    message_sid = {row.id: row.channel_message_id for row in customers}
    answers = Counter(row.reply_to_id for row in replies)
    posts = Counter(attempt["Body"] for attempt in twilio.attempts)
    end_to_end, ready_to_sent, parts_sent = [], [], Counter()
    reply_arrival = {}  # inbound sid → when the reply's first part reached the stand-in
    for row in replies:
        sids = (row.channel_meta or {}).get("sent_parts") or []
        parts_sent.update(sids)
        arrived = [twilio.received_at[s] for s in sids if s in twilio.received_at]
        sid = message_sid.get(row.reply_to_id)
        if arrived and sid in sent_wall:
            reply_arrival[sid] = min(arrived)
            end_to_end.append(min(arrived) - sent_wall[sid])
            ready_to_sent.append(min(arrived) - row.created_at.timestamp())
    by_customer = defaultdict(list)
    for row in customers:
        by_customer[row.customer_id].append(row)
    stored_order = [[r.channel_message_id for r in sorted(rows, key=lambda r: r.created_at)]
                    for rows in by_customer.values()]
    # Out of order: adjacent pairs of one customer's messages stored against their send order (two of
    # the customer's webhooks in flight at once), and replies reaching Twilio against the stored order.
    stored_inversions = sum(inversions(sids, send_order) for sids in stored_order)
    reply_inversions = sum(inversions([s for s in sids if s in reply_arrival], reply_arrival) for sids in stored_order)
    offered = set(sent_wall)
    acknowledged = {o.planned.sid for o in outcomes if not o.planned.duplicate and 200 <= o.status < 300}
    return {
        # Every acknowledged message is stored, once; one Twilio gave up on (no answer in time) may or may not be.
        "stored_once": all(stored[s] == 1 for s in acknowledged) and max(stored.values(), default=0) <= 1
                       and set(stored) <= offered,
        "stored": sum(1 for s in offered if stored[s]),
        "stored_not_acknowledged": sum(1 for s in offered - acknowledged if stored[s]),
        "answered_once": all(answers[m] == 1 for m in message_sid) and max(answers.values(), default=0) <= 1,
        "answered": sum(1 for m in message_sid if answers[m]),
        "sent_once": all(count == 1 for count in parts_sent.values()) and len(twilio.sent) == sum(parts_sent.values()),
        "replies_received": len(reply_arrival),
        "twilio_posts": len(twilio.attempts), "duplicate_bodies_posted": sum(c - 1 for c in posts.values() if c > 1),
        "one_conversation_per_customer": all(count == 1 for _, count in conversations),
        "stored_out_of_send_order": stored_inversions, "replies_out_of_stored_order": reply_inversions,
        "end_to_end_s": {f"p{q}": round(percentile(end_to_end, q), 2) for q in (50, 95)},
        "answer_ready_to_sent_s": {f"p{q}": round(percentile(ready_to_sent, q), 3) for q in (50, 95)},
    }


def inversions(sids: list[str], when: dict) -> int:
    """Adjacent pairs of ``sids`` (in one order) whose ``when`` times run the other way."""
    return sum(1 for a, b in zip(sids, sids[1:]) if when.get(a, 0) > when.get(b, 0))


def wait_for_replies(database_uri: str, expected: int, max_wait: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < max_wait:
        if replies_sent(database_uri) >= expected:
            break
        time.sleep(1.0)
    return time.monotonic() - started


def print_report(report: dict) -> None:
    ack = report["ack"]
    print(f"\n### webhook load: {ack['offered']} webhooks offered at {ack['offered_rate']:g}/s "
          f"(+{ack['redeliveries']} redeliveries); {report.get('server', 'external server')}\n")
    print("| figure | value |\n|---|---|")
    print(f"| achieved rate | {ack['achieved_rate']}/s |")
    print(f"| acknowledged (2xx) / failed | {ack['acknowledged']} / {ack['failed']} {ack['errors'] or ''} |")
    for key, label in (("ack_from_send_ms", "from send"), ("ack_from_schedule_ms", "from scheduled time")):
        values = ack[key]
        print(f"| ack p50 / p95 / p99 ({label}) | {values['p50']} / {values['p95']} / {values['p99']} ms |")
    print(f"| ack max (from send) | {ack['ack_max_ms']} ms |")
    if report.get("cpu_ms_per_webhook"):
        cpu = report["cpu_ms_per_webhook"]
        print("| CPU per webhook while offering (ms: " + ", ".join(cpu) + ") | "
              + " / ".join(f"{value:.2f}" for value in cpu.values()) + " |")
    delivery = report.get("delivery")
    if delivery:
        e2e, ready = delivery["end_to_end_s"], delivery["answer_ready_to_sent_s"]
        print(f"| reply end to end p50 / p95 (webhook sent → Twilio stand-in) | {e2e['p50']} / {e2e['p95']} s |")
        print(f"| answer stored → reply at Twilio p50 / p95 | {ready['p50']} / {ready['p95']} s |")
        print(f"| drained in | {report['drain_s']:.0f} s after the last webhook |")
        checks = ("stored_once", "answered_once", "sent_once", "one_conversation_per_customer",
                  "replies_out_of_stored_order", "stored_out_of_send_order")
        print(f"| correctness | {', '.join(f'{c}={delivery[c]}' for c in checks)}; stored {delivery['stored']}, "
              f"answered {delivery['answered']}, replies at Twilio {delivery['replies_received']}, "
              f"stored though not acknowledged {delivery['stored_not_acknowledged']}, "
              f"Twilio posts {delivery['twilio_posts']} |")
    print(f"| load (uptime) | {report['uptime']} |")


def wait_until_quiet(pids: dict[str, int], busy_cores: float = 0.1, window_s: float = 0.5,
                     timeout_s: float = 60.0) -> bool:
    """Wait until the stack uses less than ``busy_cores`` over a ``window_s`` (at most ``timeout_s``):
    started, not still starting. False: it never got that quiet."""
    deadline = time.monotonic() + timeout_s
    before = cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(window_s)
        after = cpu_seconds(pids)
        if sum(after.values()) - sum(before.values()) < busy_cores * window_s:
            return True
        before = after
    return False


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) used so far by each part and its children: what a webhook costs, whatever
    else the machine is running (wall-clock latencies are not, on shared cores)."""
    import psutil

    used = {}
    for name, pid in pids.items():
        try:
            top = psutil.Process(pid)
            processes = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        used[name] = total
    return used


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="webhooks to offer (new messages)")
    parser.add_argument("--rate", type=float, default=200.0, help="offered per second")
    parser.add_argument("--senders", type=int, default=200, help="distinct customers (their messages take turns)")
    parser.add_argument("--duplicates", type=int, default=None, help="redeliveries of random messages (default 2 %%)")
    parser.add_argument("--app-root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="checkout whose code gunicorn and the worker run (default: this one)")
    parser.add_argument("--gunicorn-args", default=None,
                        help="gunicorn options instead of the checkout's gunicorn.conf.py (e.g. '-w 4 -k gthread')")
    parser.add_argument("--url", default=None, help="a running server (loopback only) instead of starting the stack")
    parser.add_argument("--token", default=None, help="with --url: the company's Twilio auth token")
    parser.add_argument("--number", default=None, help="with --url: the company's WhatsApp number")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="stop offering after this long")
    parser.add_argument("--max-wait", type=float, default=1200.0, help="wait at most this long for the replies")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--logs", type=Path, default=None, help="keep the servers' logs in this folder")
    args = parser.parse_args(argv)
    if not (0 < args.messages <= MAX_MESSAGES and 0 < args.rate <= MAX_RATE and args.senders > 0):
        parser.error(f"--messages must be 1..{MAX_MESSAGES}, --rate 0..{MAX_RATE}, --senders > 0")
    duplicates = args.messages // 50 if args.duplicates is None else args.duplicates
    schedule = plan(args.messages, args.rate, args.senders, duplicates)

    if args.url:
        from bench.load_stack import COMPANY_NUMBER, COMPANY_TOKEN

        target = Target(require_loopback(args.url).rstrip("/"), args.number or COMPANY_NUMBER, "AC" + "5" * 32,
                        args.token or COMPANY_TOKEN)
        report = {"ack": ack_report(offer(target, schedule, args.max_seconds), args.rate), "uptime": uptime()}
    else:
        report = run_on_stack(args, schedule)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def run_on_stack(args, schedule) -> dict:
    from bench.load_stack import COMPANY_NUMBER, COMPANY_SID, COMPANY_TOKEN, started_stack

    with started_stack(args.app_root.resolve(), gunicorn_override=args.gunicorn_args, keep_logs=args.logs) as stack:
        target = Target(stack.base_url, COMPANY_NUMBER, COMPANY_SID, COMPANY_TOKEN)
        server = f"`{' '.join(stack.gunicorn_command)}` + 1 worker, code from {args.app_root}"
        # gunicorn opens its port before its workers have imported the app: a load started then queues
        # behind their boot (py-spy: create_app and post_worker_init still running 1-2 s into the load).
        quiet = wait_until_quiet(stack.pids())
        warm_up(target)
        quiet = wait_until_quiet(stack.pids()) and quiet
        print(f"offering {len(schedule)} webhooks to {server}", file=sys.stderr)
        cpu_before = cpu_seconds(stack.pids())
        outcomes = offer(target, schedule, args.max_seconds)
        cpu_after = cpu_seconds(stack.pids())
        load = uptime()
        acknowledged = sum(1 for o in outcomes if not o.planned.duplicate and 200 <= o.status < 300)
        drain = wait_for_replies(stack.env["DATABASE_URL"], acknowledged, args.max_wait)
        per_webhook = {name: round((cpu_after[name] - cpu_before[name]) / len(outcomes) * 1000, 2)
                       for name in cpu_after if name in cpu_before}
        if not quiet:
            server += " (it never got quiet before the load: still starting, or other work on the machine)"
        return {"server": server, "ack": ack_report(outcomes, args.rate), "drain_s": drain, "uptime": load,
                "cpu_ms_per_webhook": per_webhook,
                "delivery": delivery_report(outcomes, stack.env["DATABASE_URL"], stack.twilio)}


if __name__ == "__main__":
    sys.exit(main())
