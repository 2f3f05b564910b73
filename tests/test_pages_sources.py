"""The Knowledge page's websites section: add, live progress, a source's pages, sync now, remove, isolation."""

from __future__ import annotations

import pytest

from tests.browser_support import make_user, staff  # noqa: F401  (fixtures)
from tests.fakes.website import Website
from tests.test_web_sources import LOCAL, run_crawls  # noqa: F401  (fixture)


@pytest.fixture
def site():
    with Website() as website:
        website.build()
        yield website


def html(response):
    return response.get_data(as_text=True)


def test_add_a_crawl_follow_it_and_read_its_pages(app, staff, site, run_crawls, run_jobs):
    app.config["WEB_OPTIONS"] = LOCAL
    owner = staff()
    response = owner.client.post("/dashboard/knowledge/sources", data={
        "url": site.url("/help/"), "mode": "crawl", "max_pages": "200", "max_depth": "3", "sync_interval_hours": "24"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard/knowledge#websites")
    page = html(owner.client.get("/dashboard/knowledge"))
    assert site.url("/help/") in page and "Queued" in page and 'id="websites"' in page
    listed = owner.client.get("/dashboard/knowledge/sources.json").get_json()["sources"]
    assert [(s["status"], s["mode"]) for s in listed] == [("queued", "crawl")]

    run_crawls()
    source = owner.client.get("/dashboard/knowledge/sources.json").get_json()["sources"][0]
    assert (source["status_label"], source["page_count"], source["pages_failed"]) == ("Synced", 9, 4)
    detail = html(owner.client.get(f"/dashboard/knowledge/sources/{source['id']}"))
    assert "Returns policy | Acme Help" in detail and "Disallowed by the site&#39;s robots.txt." in detail
    assert f'href="{site.url("/help/returns")}"' in detail and "9 pages in the knowledge base" in detail
    failed = html(owner.client.get(f"/dashboard/knowledge/sources/{source['id']}?status=failed"))
    assert "Not found (HTTP 404)." in failed and "Returns policy" not in failed

    assert owner.client.post(f"/dashboard/knowledge/sources/{source['id']}/sync").status_code == 302
    assert owner.client.get("/dashboard/knowledge/sources.json").get_json()["sources"][0]["status"] == "queued"
    run_crawls()
    assert owner.client.get("/dashboard/knowledge/sources.json").get_json()["sources"][0]["pages_unchanged"] == 9

    assert owner.client.post(f"/dashboard/knowledge/sources/{source['id']}/delete").status_code == 302
    assert owner.client.get("/dashboard/knowledge/sources.json").get_json()["sources"] == []
    run_jobs()
    assert app.extensions["knowledge_base"].list_documents(owner.company_id) == []


def test_a_refused_address_is_said_in_words(app, staff):
    owner = staff()
    response = owner.client.post("/dashboard/knowledge/sources", data={"url": "http://127.0.0.1:5000/admin",
                                                                       "mode": "page"}, follow_redirects=True)
    assert "does not fetch internal addresses" in html(response)
    assert owner.client.get("/dashboard/knowledge/sources.json").get_json()["sources"] == []


def test_another_companys_source_is_not_found(app, staff, site):
    app.config["WEB_OPTIONS"] = LOCAL
    acme, globex = staff("Acme"), staff("Globex")
    acme.client.post("/dashboard/knowledge/sources", data={"url": site.url("/help/faq"), "mode": "page"})
    source_id = acme.client.get("/dashboard/knowledge/sources.json").get_json()["sources"][0]["id"]
    assert globex.client.get(f"/dashboard/knowledge/sources/{source_id}").status_code == 404
    assert globex.client.post(f"/dashboard/knowledge/sources/{source_id}/sync").status_code == 404
    assert globex.client.post(f"/dashboard/knowledge/sources/{source_id}/delete").status_code == 404
    assert globex.client.get("/dashboard/knowledge/sources.json").get_json()["sources"] == []
    assert site.url("/help/faq") not in html(globex.client.get("/dashboard/knowledge"))

