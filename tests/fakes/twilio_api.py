"""A local stand-in for Twilio's REST API (Messages resource only), recording what was sent.

Point the app at it with TWILIO_API_BASE_URL. ``fail_next(status, code, message)`` makes the next
request fail the way Twilio does (JSON error body with a Twilio error code); ``fail_attempt(n, …)``
makes the n-th request (counting from 1) fail.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid

from .http_server import FakeServer, Recorded

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-zA-Z]+)/Messages\.json$")


class TwilioAPI:
    def __init__(self):
        self.sent: list[dict] = []  # accepted messages: account, auth (sid, token), From, To, Body, sid
        self.attempts: list[dict] = []  # every POST to the Messages resource, accepted or not
        self._failures: list[tuple[int, int, str]] = []
        self._fail_at: dict[int, tuple[int, int, str]] = {}
        self._lock = threading.Lock()
        self.server = FakeServer(self.handle)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> "TwilioAPI":
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def fail_next(self, status: int, code: int, message: str = "Error") -> None:
        with self._lock:
            self._failures.append((status, code, message))

    def fail_attempt(self, number: int, status: int, code: int, message: str = "Error") -> None:
        with self._lock:
            self._fail_at[number] = (status, code, message)

    def handle(self, request: Recorded):
        match = MESSAGES_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return 404, {"Content-Type": "application/json"}, json.dumps(
                {"code": 20404, "message": "The requested resource was not found", "status": 404})
        auth = request.headers.get("Authorization", "")
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":") if auth.startswith("Basic ") \
            else ("", "", "")
        form = request.form()
        attempt = {"account": match["sid"], "auth": (user, password), "From": form.get("From"),
                   "To": form.get("To"), "Body": form.get("Body"), "StatusCallback": form.get("StatusCallback")}
        with self._lock:
            self.attempts.append(attempt)
            failure = self._fail_at.pop(len(self.attempts), None) or (self._failures.pop(0) if self._failures
                                                                      else None)
        if failure:
            status, code, message = failure
            return status, {"Content-Type": "application/json"}, json.dumps(
                {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                 "status": status})
        if user != match["sid"]:
            return 401, {"Content-Type": "application/json"}, json.dumps(
                {"code": 20003, "message": "Authenticate", "status": 401})
        sid = "SM" + uuid.uuid4().hex
        with self._lock:
            self.sent.append(dict(attempt, sid=sid))
        payload = {
            "account_sid": match["sid"], "api_version": "2010-04-01", "body": form.get("Body"),
            "date_created": "Thu, 26 Nov 2026 01:10:50 +0000", "date_sent": None,
            "date_updated": "Thu, 26 Nov 2026 01:10:50 +0000", "direction": "outbound-api", "error_code": None,
            "error_message": None, "from": form.get("From"), "messaging_service_sid": None, "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{match['sid']}/Messages/{sid}/Media.json"},
            "to": form.get("To"), "uri": f"/2010-04-01/Accounts/{match['sid']}/Messages/{sid}.json",
        }
        return 201, {"Content-Type": "application/json"}, json.dumps(payload)
