"""Services only flush; the view or job that owns the unit of work commits, and the jobs a service
queued (infra.queues.on_commit) go out then — never before, and never after a rollback."""

from __future__ import annotations

import pytest

from app.domain_errors import UploadRejected


@pytest.fixture
def company(app, make_company):
    from app.infra.extensions import db
    from app.infra.models import Company

    company_id, _, _ = make_company()
    with app.app_context():
        yield db.session.get(Company, company_id)


def ingest_jobs():
    from app.infra.queues import get_queue

    return get_queue("ingest").get_job_ids()


def test_an_upload_is_queued_for_ingestion_only_when_its_unit_of_work_commits(company):
    from app.infra.extensions import db
    from app.infra.models import Document
    from app.services import uploads

    uploads.accept_upload(company, b"Gift cards never expire.", "gift-cards.txt")
    assert ingest_jobs() == []  # flushed, not committed: a worker could not find the row yet
    db.session.rollback()
    assert ingest_jobs() == [] and db.session.query(Document).count() == 0

    document, created = uploads.accept_upload(company, b"Gift cards never expire.", "gift-cards.txt")
    db.session.commit()
    assert created and ingest_jobs() == [f"ingest-{document.id}"]


def test_a_released_savepoint_does_not_send_the_jobs_early(company):
    from app.infra.extensions import db
    from app.services import uploads

    document, _ = uploads.accept_upload(company, b"Returns within 30 days.", "returns.txt")
    with db.session.begin_nested():
        pass
    assert ingest_jobs() == []
    db.session.commit()
    assert ingest_jobs() == [f"ingest-{document.id}"]


def test_a_service_raises_a_domain_error_and_writes_nothing(company):
    from app.infra.extensions import db
    from app.infra.models import Document
    from app.services import uploads

    with pytest.raises(UploadRejected) as rejected:
        uploads.accept_upload(company, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "logo.png")
    assert rejected.value.unsupported_type and "cannot be read" in rejected.value.message
    db.session.commit()
    assert db.session.query(Document).count() == 0 and ingest_jobs() == []
