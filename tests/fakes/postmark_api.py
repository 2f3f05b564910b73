"""A local stand-in for Postmark's email API (POST /email), recording what was sent.

Point the app at it with POSTMARK_API_BASE_URL. ``fail_next(status, error_code, message)`` makes the
next request fail the way Postmark does (JSON body with ErrorCode and Message).
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Optional

from .http_server import FakeServer, Recorded


class PostmarkAPI:
    def __init__(self):
        self.sent: list[dict] = []  # accepted emails: the JSON body plus "token" and "MessageID"
        self.attempts: list[dict] = []
        self._failures: list[tuple[int, Optional[int], str]] = []
        self._lock = threading.Lock()
        self.server = FakeServer(self.handle)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> "PostmarkAPI":
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def fail_next(self, status: int, error_code: Optional[int], message: str = "Error") -> None:
        with self._lock:
            self._failures.append((status, error_code, message))

    def handle(self, request: Recorded):
        if request.method != "POST" or request.path != "/email":
            return 404, {"Content-Type": "application/json"}, json.dumps({"ErrorCode": 404, "Message": "Not found"})
        email = dict(request.json(), token=request.headers.get("X-Postmark-Server-Token"))
        with self._lock:
            self.attempts.append(email)
            failure = self._failures.pop(0) if self._failures else None
        if failure:
            status, error_code, message = failure
            if error_code is None:
                return status, {"Content-Type": "text/html"}, "<html><body>Service unavailable</body></html>"
            return status, {"Content-Type": "application/json"}, json.dumps({"ErrorCode": error_code,
                                                                             "Message": message})
        if not email["token"]:
            return 401, {"Content-Type": "application/json"}, json.dumps(
                {"ErrorCode": 10, "Message": "No Account or Server API tokens were supplied in the HTTP headers."})
        message_id = str(uuid.uuid4())
        with self._lock:
            self.sent.append(dict(email, MessageID=message_id))
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"To": email.get("To"), "SubmittedAt": "2026-11-26T01:10:50.0000000Z", "MessageID": message_id,
             "ErrorCode": 0, "Message": "OK"})

    def header(self, email: dict, name: str) -> Optional[str]:
        return next((h["Value"] for h in email.get("Headers") or [] if h["Name"].lower() == name.lower()), None)
