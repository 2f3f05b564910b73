"""Tenant boundaries on the channels: a WhatsApp number or an email address routes to exactly one company,
and no company can take over another's (or the platform's) by typing it into its settings.

Real PostgreSQL, Redis and RQ; Twilio's and Postmark's APIs are local stand-ins.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.infra.models import Company, Message
from tests.browser_support import make_user, staff  # noqa: F401  (fixtures)
from tests.fakes.postmark_api import PostmarkAPI
from tests.test_channel_email import auth_header, postmark_inbound
from tests.test_channel_whatsapp import GLOBEX_NUMBER, GLOBEX_SID, GLOBEX_TOKEN, inbound, post

DEFAULT_NUMBER, DEFAULT_SID, DEFAULT_TOKEN = "whatsapp:+14155238886", "AC" + "d" * 32, "platform-token"
PLATFORM_INBOUND = "3f1c9a@inbound.postmarkapp.com"


def company_row(app, company_id) -> Company:
    from app.infra.extensions import db

    with app.app_context():
        company = db.session.get(Company, company_id)
        db.session.expunge(company)
        return company


def update_company(app, company_id, **fields):
    from app.infra.extensions import db

    with app.app_context():
        company = db.session.get(Company, company_id)
        for name, value in fields.items():
            setattr(company, name, value)
        db.session.commit()


def stored_customer_messages(app):
    from app.infra.extensions import db

    with app.app_context():
        rows = db.session.scalars(select(Message).where(Message.role == "customer")).all()
        return [(m.company_id, m.content) for m in rows]


@pytest.fixture
def platform_whatsapp(app):
    app.config.update(TWILIO_WHATSAPP_NUMBER=DEFAULT_NUMBER, TWILIO_ACCOUNT_SID=DEFAULT_SID,
                      TWILIO_AUTH_TOKEN=DEFAULT_TOKEN)


@pytest.fixture
def postmark(app):
    app.config.update(POSTMARK_WEBHOOK_USER="postmark", POSTMARK_WEBHOOK_PASSWORD="s3cret-inbound-password",
                      POSTMARK_INBOUND_ADDRESS=PLATFORM_INBOUND, POSTMARK_SERVER_TOKEN="platform-server-token",
                      POSTMARK_FROM_EMAIL="no-reply@platform.example")
    with PostmarkAPI() as api:
        app.config["POSTMARK_API_BASE_URL"] = api.url
        yield api


def email_post(client, payload):
    return client.post("/api/webhooks/email/", json=payload, headers=auth_header("postmark", "s3cret-inbound-password"))


# ----------------------------------------------------------------------------- WhatsApp
def test_no_company_can_take_over_the_platforms_default_number(app, client, staff, platform_whatsapp):
    served_by_default = staff("Solo Shop")  # no number of its own: the platform default serves it
    bravo = staff("Bravo", whatsapp_number=GLOBEX_NUMBER, twilio_account_sid=GLOBEX_SID,
                  twilio_auth_token=GLOBEX_TOKEN)

    for spelling in ("+14155238886", "+1 415 523 8886", "whatsapp:+1 (415) 523-8886"):
        response = bravo.client.post("/dashboard/settings/channels", data={
            "whatsapp_number": spelling, "clear_twilio_auth_token": "1"})
        assert response.status_code == 409, spelling
        assert "default WhatsApp number" in response.get_data(as_text=True)
    bravo_row = company_row(app, bravo.company_id)
    assert bravo_row.whatsapp_number == GLOBEX_NUMBER and bravo_row.twilio_auth_token == GLOBEX_TOKEN

    # Even a row that names the default number (written before this rule) never receives its messages.
    update_company(app, bravo.company_id, whatsapp_number=DEFAULT_NUMBER, twilio_auth_token=None)
    assert post(client, inbound("Where is my order?", to=DEFAULT_NUMBER), token=DEFAULT_TOKEN).status_code == 200
    assert stored_customer_messages(app) == [(served_by_default.company_id, "Where is my order?")]


def test_a_company_with_its_own_number_is_verified_with_its_own_token_only(app, client, make_company,
                                                                           platform_whatsapp):
    make_company("Bravo", whatsapp_number=GLOBEX_NUMBER)  # its own number, no token of its own
    response = post(client, inbound("Hello?", to=GLOBEX_NUMBER), token=DEFAULT_TOKEN)
    assert response.status_code == 403  # the platform's token does not vouch for a company's own number
    assert stored_customer_messages(app) == []


def test_a_number_belongs_to_one_company_in_any_spelling(app, staff):
    staff("Alpha", whatsapp_number="whatsapp:+14155550100")
    bravo = staff("Bravo")
    for spelling in ("+1 415 555 0100", "+14155550100"):
        response = bravo.client.post("/dashboard/settings/channels", data={"whatsapp_number": spelling})
        assert response.status_code == 409 and "already used by another company" in response.get_data(as_text=True)
    assert company_row(app, bravo.company_id).whatsapp_number is None


def test_the_operators_cli_refuses_taken_numbers_and_addresses_too(app, make_company, platform_whatsapp):
    make_company("Alpha", whatsapp_number="whatsapp:+14155550100", inbound_email="support@alpha.example")
    bravo_id, _, _ = make_company("Bravo")
    runner = app.test_cli_runner()
    for option, value, said in [("--whatsapp-number", "+14155550100", "already used by another company"),
                                ("--whatsapp-number", DEFAULT_NUMBER, "platform's default"),
                                ("--inbound-email", "Support+x@alpha.example", "already used by another company")]:
        result = runner.invoke(args=["companies", "set", "bravo", option, value])
        assert result.exit_code != 0 and said in result.output, result.output
    result = runner.invoke(args=["companies", "set", "bravo", "--whatsapp-number", "+1 415 555 0177",
                                 "--inbound-email", "Help@Bravo.example"])
    assert result.exit_code == 0, result.output
    bravo = company_row(app, bravo_id)
    assert (bravo.whatsapp_number, bravo.inbound_email) == ("whatsapp:+14155550177", "help@bravo.example")


# ----------------------------------------------------------------------------- email
def test_a_company_cannot_claim_another_companys_inbound_address(app, client, staff, postmark):
    alpha = staff("Alpha", inbound_email="support@alpha.example")
    bravo = staff("Bravo")
    for address in ("support+x@alpha.example", "SUPPORT@alpha.example", "support@alpha.example",
                    f"3f1c9a+{company_row(app, alpha.company_id).inbound_hash}@inbound.postmarkapp.com"):
        response = bravo.client.post("/dashboard/settings/channels", data={"inbound_email": address})
        assert response.status_code == 409, address
    bravo_row = company_row(app, bravo.company_id)
    assert bravo_row.inbound_email is None and bravo_row.inbound_email_pending is None

    assert email_post(client, postmark_inbound(to="support+x@alpha.example")).get_json() == {"status": "stored"}
    assert [company for company, _ in stored_customer_messages(app)] == [alpha.company_id]


def test_a_custom_address_is_used_only_once_mail_forwarded_from_it_proves_it(app, client, staff, postmark, run_jobs):
    bravo = staff("Bravo")
    bravo_hash = company_row(app, bravo.company_id).inbound_hash
    platform_address = f"3f1c9a+{bravo_hash}@inbound.postmarkapp.com"
    page = bravo.client.get("/dashboard/settings").get_data(as_text=True)
    assert platform_address in page

    response = bravo.client.post("/dashboard/settings/channels", data={"inbound_email": "Help@Bravo.example"})
    assert response.status_code == 302
    row = company_row(app, bravo.company_id)
    assert row.inbound_email is None and row.inbound_email_pending == "help@bravo.example"
    assert "waiting for confirmation" in bravo.client.get("/dashboard/settings").get_data(as_text=True)
    run_jobs()
    [verification] = postmark.sent
    assert verification["To"] == "help@bravo.example" and row.inbound_email_code in verification["Subject"]
    assert verification["token"] == "platform-server-token"

    # Until it is proven, the address routes nothing to Bravo.
    assert email_post(client, postmark_inbound(to="help@bravo.example")).get_json() == {"status": "unrouted"}
    # Mail at Bravo's platform address that merely *says* it was sent to the address proves nothing.
    forged = postmark_inbound(to=platform_address, message_id="<forged@mail.example>")
    forged.update(MailboxHash=bravo_hash, To="help@bravo.example")
    email_post(client, forged)
    assert company_row(app, bravo.company_id).inbound_email is None

    # The verification mail itself, forwarded from help@bravo.example to the platform address, proves it.
    forwarded = postmark_inbound(to=platform_address, subject="Fwd: " + verification["Subject"],
                                 text="---------- Forwarded message ---------\n" + verification["TextBody"],
                                 sender="no-reply@platform.example", message_id="<fwd@mail.example>")
    forwarded["MailboxHash"] = bravo_hash
    assert email_post(client, forwarded).get_json() == {"status": "address_confirmed"}
    row = company_row(app, bravo.company_id)
    assert row.inbound_email == "help@bravo.example" and row.inbound_email_pending is None

    response = email_post(client, postmark_inbound(to="help@bravo.example", message_id="<after@mail.example>"))
    assert response.get_json() == {"status": "stored"}
    assert bravo.company_id in [company for company, _ in stored_customer_messages(app)]


def test_every_company_has_its_own_random_platform_address(app, make_company, postmark):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["companies", "create", "Acme Corp"])
    assert result.exit_code == 0, result.output
    first_id, _, _ = make_company("Globex")
    second_id, _, _ = make_company("Initech")
    hashes = {company_row(app, cid).inbound_hash for cid in (first_id, second_id)}
    assert len(hashes) == 2 and all(len(h) == 16 for h in hashes)
    assert "Inbound email address: 3f1c9a+" in result.output
