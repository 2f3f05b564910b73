"""An open-loop load generator for signed Twilio WhatsApp webhooks (loopback only).

Each request has a scheduled time (``i / rate`` seconds after the start) and is sent then,
whether or not earlier ones were answered — as Twilio does — so a server that falls behind shows
it in the latency from the scheduled time, not only in the latency from the send.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import random
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

WEBHOOK_PATH = "/api/webhooks/whatsapp/"
STATUS_PATH = "/api/webhooks/whatsapp/status/"
QUESTIONS = (
    "What does PerksPlus reimburse?", "How much can I get back from PerksPlus each year?",
    "Is a gym membership covered by PerksPlus?", "Can I use PerksPlus for ski lessons?",
    "How do I submit a PerksPlus expense?", "Are golf lessons covered?",
    "What is the deadline for PerksPlus claims?", "Does PerksPlus cover personal training?",
    "What is Contoso's mission?", "How often are performance reviews held?",
    "How do I report a safety concern at work?", "What is the whistleblower policy?",
    "What does the employee handbook say about workplace violence?", "Who do I contact about data security?",
    "What is the privacy policy for employee data?", "How do I request time off?",
)


def require_loopback(url: str) -> str:
    """``url`` when its host is this machine (127.0.0.0/8, ::1, localhost); refuses anything else."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return url
    try:
        if ipaddress.ip_address(host).is_loopback:
            return url
    except ValueError:
        pass
    raise SystemExit(f"refusing to send load to {url!r}: only loopback targets (127.0.0.1, ::1, localhost)")


@dataclass
class Planned:
    at: float  # seconds after the start
    sid: str
    sender: str
    body: str
    duplicate: bool = False


@dataclass
class Outcome:
    planned: Planned
    status: int = 0
    sent_after: float = 0.0  # seconds after the start (perf counter)
    done_after: float = 0.0
    sent_wall: float = 0.0  # time.time() at send, to compare with the stand-in's and the database's clocks
    error: str = ""

    @property
    def from_send(self) -> float:
        return self.done_after - self.sent_after

    @property
    def from_schedule(self) -> float:
        return self.done_after - self.planned.at


def plan(count: int, rate: float, senders: int, duplicates: int, seed: int = 7) -> list[Planned]:
    """``count`` messages at ``rate``/s from ``senders`` customers in turn, plus ``duplicates`` redeliveries
    of random ones 0.05–2 s after their original (Twilio retries a webhook it did not see acknowledged)."""
    rng = random.Random(seed)
    customers = [f"whatsapp:+3460{n:07d}" for n in range(senders)]
    originals = [Planned(i / rate, "SM" + uuid.UUID(int=rng.getrandbits(128)).hex, customers[i % senders],
                         QUESTIONS[(i // senders + i) % len(QUESTIONS)]) for i in range(count)]
    redelivered = [Planned(o.at + rng.uniform(0.05, 2.0), o.sid, o.sender, o.body, duplicate=True)
                   for o in rng.sample(originals, min(duplicates, count))]
    return sorted(originals + redelivered, key=lambda p: p.at)


def form(planned: Planned, to: str, account_sid: str) -> dict:
    """The fields Twilio posts for an inbound WhatsApp text message."""
    return {"SmsMessageSid": planned.sid, "NumMedia": "0", "ProfileName": "Load Test", "MessageType": "text",
            "SmsSid": planned.sid, "WaId": planned.sender.split("+")[-1], "SmsStatus": "received",
            "Body": planned.body, "To": to, "NumSegments": "1", "ReferralNumMedia": "0",
            "MessageSid": planned.sid, "AccountSid": account_sid, "From": planned.sender, "ApiVersion": "2010-04-01"}


@dataclass
class Target:
    base_url: str
    number: str
    account_sid: str
    token: str
    timeout: float = 30.0
    validator: RequestValidator = field(init=False)

    def __post_init__(self):
        require_loopback(self.base_url)
        self.validator = RequestValidator(self.token)

    def signed(self, planned: Planned) -> tuple[dict, dict]:
        params = form(planned, self.number, self.account_sid)
        signature = self.validator.compute_signature(self.base_url + WEBHOOK_PATH, params)
        return params, {"X-Twilio-Signature": signature}


async def _offer(target: Target, schedule: list[Planned], max_seconds: float) -> list[Outcome]:
    import aiohttp

    requests = [(p, *target.signed(p)) for p in schedule]  # signed before the clock starts
    outcomes: list[Outcome] = []
    # A connection per webhook, as Twilio opens them: reusing kept-alive connections raced gunicorn closing
    # idle ones (keepalive 2 s), and those requests failed without reaching the app.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=target.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()

        async def send(planned: Planned, params: dict, headers: dict) -> None:
            outcome = Outcome(planned, sent_after=time.perf_counter() - start, sent_wall=time.time())
            try:
                async with session.post(target.base_url + WEBHOOK_PATH, data=params, headers=headers) as response:
                    await response.read()
                    outcome.status = response.status
            except Exception as err:  # timeouts, refused connections: counted as failures
                outcome.error = type(err).__name__
            outcome.done_after = time.perf_counter() - start
            outcomes.append(outcome)

        tasks = []
        for planned, params, headers in requests:
            delay = planned.at - (time.perf_counter() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() - start > max_seconds:
                break
            tasks.append(asyncio.create_task(send(planned, params, headers)))
        await asyncio.gather(*tasks)
    return outcomes


def offer(target: Target, schedule: list[Planned], max_seconds: float) -> list[Outcome]:
    """Send every planned webhook at its time (stopping early after ``max_seconds``); one Outcome each.

    The client's own garbage collector is kept from walking what this process imported (the app, to set
    the company up): a full collection stalled its event loop ~100 ms, and every response that arrived
    meanwhile was timed that much late (measured: the ack tail clustered at the client's busy moments,
    not the server's)."""
    gc.collect()
    gc.freeze()
    try:
        return asyncio.run(_offer(target, schedule, max_seconds))
    finally:
        gc.unfreeze()


def warm_up(target: Target, requests: int = 64) -> None:
    """Delivery reports for a message nobody sent (stores nothing): every server process opens its
    database connections and imports what a webhook needs before the measured load starts."""
    async def run():
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=target.timeout)) as session:
            async def one(n: int) -> None:
                params = {"MessageSid": f"SM{n:032x}", "MessageStatus": "delivered", "From": target.number,
                          "To": "whatsapp:+34600000000", "AccountSid": target.account_sid}
                signature = target.validator.compute_signature(target.base_url + STATUS_PATH, params)
                async with session.post(target.base_url + STATUS_PATH, data=params,
                                        headers={"X-Twilio-Signature": signature}) as response:
                    await response.read()

            await asyncio.gather(*(one(n) for n in range(requests)))

    asyncio.run(run())
