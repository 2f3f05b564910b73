"""The answer path's work per answer (bench/answer_throughput.py measures the time): embedding
batches, remembered sentences, the near-repeat cut-off, pooled connections pinged only when idle."""

import numpy as np
import pytest
import sqlalchemy as sa

from rag_engine import database
from rag_engine.embeddings import length_batches
from tests.conftest import FIXTURES


def test_length_batches_cover_every_text_once_shortest_first_within_the_batch_size():
    lengths = [40, 7, 200, 9, 8, 41, 198, 6, 39]
    batches = length_batches(lengths, max_batch=2)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 2 for b in batches)
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)


def test_length_batches_keep_short_and_long_texts_apart_but_similar_ones_together():
    assert [sorted(b) for b in length_batches([10, 200, 11, 199], max_batch=32)] == [[0, 2], [1, 3]]
    assert length_batches([30, 31, 30, 32], max_batch=32) == [[0, 2, 1, 3]]
    assert length_batches([], max_batch=32) == []


def test_batched_embeddings_equal_one_text_at_a_time(embed_model):
    texts = ["Copays: You pay $20 for a primary care visit.", "", "Eye exams",
             "Northwind Health Plus covers preventive care, emergency services, hospital stays, prescription "
             "drugs, mental health and substance abuse services for employees and their families. " * 3]
    together = np.array(embed_model.get_text_embedding_batch(texts))
    alone = np.array([embed_model.get_text_embedding(t) for t in texts])
    assert np.allclose(together, alone, atol=1e-6)


@pytest.fixture
def acme(kb):
    kb.ingest("acme", FIXTURES / "policies.pdf")
    kb.ingest("acme", FIXTURES / "faq.html")
    return kb


class EmbeddedTexts:
    """Counts the texts the local model runs (each ONNX call's batch)."""

    def __init__(self, monkeypatch, model):
        self.calls: list = []
        original = type(model)._run

        def counted(this, encodings):
            self.calls.append(len(encodings))
            return original(this, encodings)

        monkeypatch.setattr(type(model), "_run", counted)


def test_a_question_asked_again_embeds_only_itself(acme, monkeypatch):
    question = "How long do I have to return an item?"
    first = acme.answer("acme", question)
    counter = EmbeddedTexts(monkeypatch, acme.embed_model)
    again = acme.answer("acme", question)
    assert counter.calls == [1]  # the question; every sentence's vector is remembered
    assert (again.text, again.sources) == (first.text, first.sources)


def test_the_near_repeat_cut_off_keeps_what_compose_reads(acme):
    question = "How long do I have to return an item?"
    hits = acme.retrieve("acme", question)
    embedding = acme.embed_model.get_query_embedding(question)
    composer = acme.composer
    full = composer.score(question, embedding, hits)
    composition = composer.compose(question, embedding, hits)
    assert [u.text for u in composition.ranked] == [u.text for u in full[:10]]
    best = full[0].score
    cut = composer.score(question, embedding, hits, enough=composer.enough)
    assert [u.text for u in cut] == [u.text for u in full[:len(cut)]]
    assert all(u.score < best - composer.keep_margin for u in full[len(cut):])


def test_an_idle_pooled_connection_is_pinged_and_a_dead_one_replaced(postgres_url, monkeypatch):
    engine = database.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with sa.create_engine(postgres_url).connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection counts as idle
        with engine.connect() as conn:
            second = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        assert second != first
    finally:
        engine.dispose()


def test_the_apps_engine_also_replaces_a_dead_idle_connection_without_pinging_every_checkout(app, postgres_url,
                                                                                              monkeypatch):
    from app.infra.extensions import db

    with app.app_context():
        assert not db.engine.pool._pre_ping
        first = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        db.session.remove()  # back to the pool
        with sa.create_engine(postgres_url).connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(database, "PING_AFTER_IDLE_S", 0.0)
        second = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        assert second != first
