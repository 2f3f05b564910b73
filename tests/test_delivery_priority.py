"""Delivery is not starved by answering: a ready reply leaves before the next answer is computed."""

from __future__ import annotations

from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer


def test_each_ready_reply_is_sent_before_the_next_answer_is_computed(app, redis_conn):
    from app.infra.queues import ANSWER, QUEUE_NAMES, get_queue

    with app.app_context():
        answers = get_queue(ANSWER, redis_conn)
        queues = [get_queue(name, redis_conn) for name in QUEUE_NAMES]
    # A backlog of answers; each, when done, leaves a reply on the outbound queue (as the answer job does).
    backlog = [answers.enqueue("tests.test_delivery_priority.answer_then_queue_reply", i) for i in range(4)]
    SimpleWorker(queues, connection=redis_conn, serializer=JSONSerializer).work(burst=True, logging_level="WARNING")

    ran = []
    for job in backlog:
        job = Job.fetch(job.id, connection=redis_conn, serializer=JSONSerializer)
        reply = Job.fetch(job.return_value(), connection=redis_conn, serializer=JSONSerializer)
        ran += [(job.started_at, f"answer {job.args[0]}"), (reply.started_at, f"send {job.args[0]}")]
    order = [name for _, name in sorted(ran)]
    assert order == ["answer 0", "send 0", "answer 1", "send 1", "answer 2", "send 2", "answer 3", "send 3"]


def answer_then_queue_reply(i: int) -> str:
    from rq import get_current_job

    from app.infra.queues import OUTBOUND, get_queue

    connection = get_current_job().connection
    return get_queue(OUTBOUND, connection).enqueue("tests.test_delivery_priority.send_reply", i).id


def send_reply(i: int) -> int:
    return i
