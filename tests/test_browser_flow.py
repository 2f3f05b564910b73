"""The whole product in a real browser: headless Chromium (Debian) driven by Playwright.

The real app is served over HTTP, a real RQ worker process ingests the upload, and the widget runs
on a host page served from another origin, exactly as on a customer's website.
"""

import re

import pytest

from tests.browser_support import (  # noqa: F401  (fixtures)
    PASSWORD, Console, chromium, host_page, live_server, make_user, rq_worker, screenshot,
)
from tests.conftest import FIXTURES

DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 15_000
STAFF_REPLY = ("Hi, this is Sam from support. Your order ships **today**, see [tracking](https://example.com/track). "
               "<img src=x onerror=window.__xss=1>")


def company_with_staff(app, make_company, make_user, **fields):
    from app.infra.extensions import db
    from app.infra.models import Company

    company_id, _, _ = make_company("Northwind Outfitters", **fields)
    email = make_user(company_id, email="sam@northwind.example")
    with app.app_context():
        return company_id, email, db.session.get(Company, company_id).widget_key


def allow_origin(app, company_id, origin):
    from app.infra.extensions import db
    from app.infra.models import Company

    with app.app_context():
        company = db.session.get(Company, company_id)
        company.allowed_origins = [origin]
        company.widget_color = "#0f766e"
        company.widget_title = "Northwind Help"
        db.session.commit()


def widget(page, selector=""):
    """A locator inside the widget's (open) shadow root: Playwright's CSS engine pierces it."""
    return page.locator(f"#support-widget {selector}".strip())


@pytest.mark.slow
def test_staff_upload_visitor_chat_handoff_and_staff_reply(app, make_company, make_user, live_server, rq_worker,
                                                           host_page, chromium):
    company_id, email, widget_key = company_with_staff(app, make_company, make_user)
    site = host_page(f"{live_server}/widget.js", widget_key)
    allow_origin(app, company_id, site.origin)
    console = Console()

    staff_context = chromium.new_context(viewport=DESKTOP, reduced_motion="reduce")
    visitor_context = chromium.new_context(viewport=DESKTOP, reduced_motion="reduce")
    staff_context.set_default_timeout(TIMEOUT)
    visitor_context.set_default_timeout(TIMEOUT)
    try:
        # ---- the staff user logs in
        staff_page = staff_context.new_page()
        console.watch(staff_page, "staff")
        staff_page.goto(f"{live_server}/dashboard/knowledge")
        assert staff_page.url.startswith(f"{live_server}/login?next=")
        staff_page.fill("#email", email)
        staff_page.fill("#password", PASSWORD)
        screenshot(staff_page, "01-login")
        staff_page.click("button[type=submit]")
        staff_page.wait_for_url(f"{live_server}/dashboard/knowledge")

        # ---- uploads the PDF (and a file that cannot be read) and sees it reach "completed"
        staff_page.set_input_files("#file-input", [str(FIXTURES / "policies.pdf")])
        row = staff_page.locator("#documents tr[data-id]", has_text="policies.pdf")
        row.wait_for()
        staff_page.set_input_files("#file-input", files=[{"name": "logo.png", "mimeType": "image/png",
                                                          "buffer": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64}])
        error = staff_page.locator("#upload-list li.error", has_text="logo.png")
        error.wait_for()
        assert "cannot be read" in error.inner_text()
        row.locator(".badge.completed").wait_for(timeout=120_000)  # the worker process ingests it
        assert row.get_attribute("data-status") == "completed"
        assert row.locator(".js-progress-text").inner_text() == "100%"
        assert int(row.locator(".js-chunks").inner_text()) >= 3
        staff_page.locator("#upload-list li.ok", has_text="Ready").wait_for()
        assert staff_page.locator("#doc-count").inner_text() == "1 document"
        screenshot(staff_page, "02-knowledge-completed", full_page=True)

        # ---- a visitor opens the customer's website (another origin) and asks a question
        visitor = visitor_context.new_page()
        console.watch(visitor, "visitor")
        visitor.goto(site.origin + "/")
        widget(visitor, ".launcher").click()
        panel = widget(visitor, ".panel")
        panel.wait_for(state="visible")
        assert "Northwind Help" in widget(visitor, ".head .title").inner_text()
        assert widget(visitor, ".row.greeting").inner_text() == "Hi! How can we help you today?"
        # The host page's hostile CSS does not reach into the widget.
        font = widget(visitor, ".launcher").evaluate("e => getComputedStyle(e).backgroundColor")
        assert font == "rgb(15, 118, 110)"  # the company's colour, not the host's yellow buttons
        screenshot(visitor, "03-widget-open")

        widget(visitor, "textarea").fill("How long does shipping to Europe take?")
        widget(visitor, "textarea").press("Enter")
        answer = widget(visitor, ".row.assistant[data-id] .source").first
        answer.wait_for(timeout=60_000)
        reply = widget(visitor, ".row.assistant[data-id]").last
        assert "7 to 10 business days" in reply.locator(".bubble").inner_text()
        assert int(reply.get_attribute("data-deltas")) > 3  # it arrived as a stream of deltas
        assert "policies.pdf · p. 2" in reply.locator(".source").first.inner_text()
        assert reply.locator(".bubble sup.cite").count() >= 1  # "[1]" markers shown as small citations
        assert reply.locator(".ask-human").count() == 0  # answered: no hand-off suggestion
        screenshot(visitor, "04-widget-streamed-answer")

        # ---- thumbs up, then a reload keeps the conversation (localStorage session)
        reply.locator("button[data-vote=up]").click()
        widget(visitor, ".row.assistant[data-id] button[data-vote=up].active").wait_for()
        visitor.reload()
        widget(visitor, ".panel").wait_for(state="visible")  # it stays open too
        widget(visitor, ".row.customer", ).filter(has_text="How long does shipping to Europe take?").wait_for()
        restored = widget(visitor, ".row.assistant[data-id]").last
        assert "7 to 10 business days" in restored.inner_text()
        assert restored.locator("button[data-vote=up].active").count() == 1

        # ---- a question the documents do not answer, then "talk to a person"
        widget(visitor, "textarea").fill("Do you sell gift cards?")
        widget(visitor, "button.send").click()
        fallback = widget(visitor, ".row.assistant[data-id]").filter(has=visitor.locator(".ask-human"))
        fallback.wait_for(timeout=60_000)
        assert fallback.locator(".source").count() == 0
        fallback.locator(".ask-human").click()
        widget(visitor, ".system", ).filter(has_text="A member of our team will reply here").wait_for()
        assert widget(visitor, ".subtitle").inner_text() == "You're chatting with our team"
        assert widget(visitor, ".ask-human").count() == 0 and not widget(visitor, "button.human").is_visible()
        widget(visitor, "textarea").fill("<b>My order number is 1234</b>")
        widget(visitor, "textarea").press("Enter")
        widget(visitor, ".row.customer[data-id]").filter(has_text="<b>My order number is 1234</b>").wait_for()
        screenshot(visitor, "05-widget-handed-off")

        # ---- the staff user sees it waiting, reads the thread with its source, and replies
        staff_page.goto(f"{live_server}/dashboard/conversations?status=handed_off")
        conversation = staff_page.locator(".conv-row").first
        assert "Human" in conversation.inner_text()
        screenshot(staff_page, "06-conversations")
        conversation.click()
        staff_page.wait_for_url(re.compile(r".*/dashboard/conversations/[0-9a-f-]+$"))
        staff_page.locator(".msg.assistant .source", has_text="policies.pdf · p. 2").wait_for()
        staff_page.locator(".msg.customer .bubble", has_text="<b>My order number is 1234</b>").wait_for()
        assert staff_page.locator(".msg.customer b").count() == 0  # escaped, not markup
        staff_page.fill("#reply", STAFF_REPLY)
        staff_page.click("#composer button[type=submit]")
        staff_page.locator(".msg.staff .bubble", has_text="Hi, this is Sam from support.").wait_for()
        screenshot(staff_page, "07-conversation-thread")

        # ---- the reply shows in the widget, with safe markdown
        staff_row = widget(visitor, ".row.staff").filter(has_text="Hi, this is Sam from support.")
        staff_row.wait_for(timeout=20_000)
        assert staff_row.locator("strong").inner_text() == "today"
        link = staff_row.locator("a")
        assert link.get_attribute("href") == "https://example.com/track" and link.get_attribute("target") == "_blank"
        assert "<img src=x onerror=window.__xss=1>" in staff_row.inner_text()
        assert staff_row.locator("img").count() == 0
        assert visitor.evaluate("window.__xss") is None
        screenshot(visitor, "08-widget-staff-reply")

        # ---- the visitor answers; the staff page shows it without a reload
        widget(visitor, "textarea").fill("Thanks, Sam!")
        widget(visitor, "textarea").press("Enter")
        staff_page.locator(".msg.customer .bubble", has_text="Thanks, Sam!").wait_for(timeout=20_000)
        widget(visitor, ".row.customer[data-id]").filter(has_text="Thanks, Sam!").wait_for()
        visitor.wait_for_function("() => !window.__supportWidget.state.busy")  # its stream has ended
        assert widget(visitor, ".row.assistant[data-id]").count() == 2  # the AI stayed quiet after the hand-off

        # ---- the overview counts it, the settings page shows the snippet
        staff_page.goto(f"{live_server}/dashboard/")
        assert staff_page.locator('[data-stat="conversations-today"] .value').inner_text() == "1"
        assert staff_page.locator('[data-stat="answered"] .value').inner_text() == "50%"
        assert "Do you sell gift cards?" in staff_page.locator("#knowledge-gaps").inner_text()
        assert staff_page.locator('[data-stat="feedback"] .up').inner_text() == "1"
        screenshot(staff_page, "09-overview")
        staff_page.goto(f"{live_server}/dashboard/settings")
        assert widget_key in staff_page.locator("#widget-snippet").inner_text()
        screenshot(staff_page, "10-settings", full_page=True)

        # ---- the preview page: the app's own origin may always use the widget (it is not on the allow-list)
        staff_page.click("text=Preview widget")
        staff_page.wait_for_url(f"{live_server}/dashboard/widget-preview")
        widget(staff_page, ".launcher").click()
        assert widget(staff_page, ".row.greeting").inner_text() == "Hi! How can we help you today?"
        screenshot(staff_page, "14-widget-preview")
    finally:
        staff_context.close()
        visitor_context.close()
    assert console.errors == []


@pytest.mark.slow
def test_widget_on_a_phone_and_on_a_disallowed_site(app, make_company, make_user, live_server, host_page, chromium):
    company_id, email, widget_key = company_with_staff(app, make_company, make_user)
    allowed = host_page(f"{live_server}/widget.js", widget_key)
    allow_origin(app, company_id, allowed.origin)
    other = host_page(f"{live_server}/widget.js", widget_key)  # a site the company did not allow
    console = Console()

    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2,
                                 reduced_motion="reduce")
    phone.set_default_timeout(TIMEOUT)
    try:
        page = phone.new_page()
        console.watch(page, "phone")
        page.goto(allowed.origin + "/")
        widget(page, ".launcher").tap()
        panel = widget(page, ".panel")
        panel.wait_for(state="visible")
        box = panel.bounding_box()
        assert [round(v) for v in (box["x"], box["y"], box["width"], box["height"])] == \
            [0, 0, PHONE["width"], PHONE["height"]]  # full screen on a phone
        widget(page, "textarea").fill("What is the warranty?")
        widget(page, "button.send").tap()
        widget(page, ".row.assistant[data-id] .ask-human").wait_for(timeout=60_000)  # no documents: fallback
        screenshot(page, "11-widget-phone")
        widget(page, "button.human").tap()
        widget(page, ".system").wait_for()
        assert widget(page, ".foot-note").inner_text() == "A person from our team is handling this chat"
        widget(page, "button[aria-label='Close chat']").first.tap()
        widget(page, ".launcher").wait_for(state="visible")
        assert not widget(page, ".panel").is_visible()

        # The staff pages on a phone: the sidebar becomes a top bar.
        staff_page = phone.new_page()
        console.watch(staff_page, "staff-phone")
        staff_page.goto(f"{live_server}/login")
        staff_page.fill("#email", email)
        staff_page.fill("#password", PASSWORD)
        staff_page.click("button[type=submit]")
        staff_page.wait_for_url(f"{live_server}/dashboard/")
        staff_page.goto(f"{live_server}/dashboard/conversations")
        staff_page.locator(".conv-row").first.wait_for()
        screenshot(staff_page, "12-conversations-phone", full_page=True)
        staff_page.locator(".conv-row").first.tap()
        staff_page.locator(".msg.system").first.wait_for()
        scroll_width = staff_page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE["width"]  # nothing overflows sideways
        screenshot(staff_page, "13-conversation-phone", full_page=True)
        assert console.errors == []

        blocked = phone.new_page()
        blocked_console = Console()
        blocked_console.watch(blocked, "disallowed-site")
        blocked.goto(other.origin + "/")
        blocked.wait_for_function("() => window.__supportWidget && window.__supportWidget.state.started")
        blocked.wait_for_timeout(500)
        assert blocked.locator("#support-widget").count() == 0  # the widget does not appear
        assert any("CORS" in e or "Access-Control-Allow-Origin" in e for e in blocked_console.errors), \
            blocked_console.errors
    finally:
        phone.close()


def test_a_website_crawl_shows_its_progress_live_and_its_pages(app, make_company, make_user, live_server, chromium,
                                                               redis_conn):
    """The Knowledge page's websites section: add a crawl, follow it without reloading, open its pages."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from app.infra.queues import CRAWL_QUEUES, get_queue
    from tests.fakes.website import Website
    from tests.test_web_sources import LOCAL

    def run_crawls():
        with app.app_context():
            queues = [get_queue(name, redis_conn) for name in CRAWL_QUEUES]
        SimpleWorker(queues, connection=redis_conn, serializer=JSONSerializer).work(burst=True, logging_level="WARNING")

    app.config["WEB_OPTIONS"] = LOCAL
    site = Website().__enter__()
    site.build()
    company_id, _, _ = make_company("Acme Outdoor")
    email = make_user(company_id)
    console = Console()
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, reduced_motion="reduce")
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        console.watch(page, "staff")
        page.goto(f"{live_server}/login")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{live_server}/dashboard/knowledge")
        page.fill("#source-url", site.url("/help/"))
        page.select_option("#source-mode", "crawl")
        page.click("#source-form button[type=submit]")
        row = page.locator("#sources tr[data-source]")
        row.locator(".js-status", has_text="Queued").wait_for()
        run_crawls()  # the crawl worker; the page follows it without a reload
        row.locator(".js-status", has_text="Synced").wait_for()
        assert row.locator(".js-progress").inner_text().startswith("17 of 17 done · 9 new or updated")
        screenshot(page, "websites-01-knowledge", full_page=True)
        page.click("#sources a.js-url")
        page.locator("#source-pages").wait_for()
        assert "Returns policy | Acme Help" in page.content()
        screenshot(page, "websites-02-source-pages", full_page=True)
    finally:
        context.close()
        site.__exit__(None, None, None)
    assert console.errors == []
