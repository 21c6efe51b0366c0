"""Delivering the event feed to webhooks: every event of a webhook's kinds, in feed order, signed.

Each webhook gets one delivery per feed event (store/deliveries.py, opened after the events
were committed, beside Telegram's muting and digesting so an engine hears every fill). A sender
claims one delivery at a time in a short transaction, POSTs with no transaction open, and records
the outcome in another, as Telegram delivery does. The body is the event exactly as
`ordertrack events --json` prints it; `Idempotency-Key` is its feed id, the same on every attempt.

  2xx                  SENT.
  408, 429, 5xx        PENDING, retried on a later run with the outbox's backoff (1, 2, 4 … 60
                       minutes, or the Retry-After asked for).
  no reply (timeout,   UNKNOWN: the receiver may have acted. Unlike Telegram (at most one extra
  connection cut)      copy), it is retried like a 5xx, without limit: the Idempotency-Key makes
                       a repeat harmless to a receiver that honours it, and losing a fill is not.
  other 3xx/4xx        FAILED, kept with its reason; `outbox flush --retry-failed` re-queues it.

A webhook sends in feed order: while its oldest unsent event waits, later ones wait behind it
(a FAILED one no longer holds the line).

A claim names its sender's process (host, pid, start time, boot): when that process is gone
(killed mid-send), the next run takes the claim back at once as an unknown outcome and sends
the event again with the same Idempotency-Key, instead of waiting for the 15-minute lease.

requests loads only when a webhook is actually posted to (net.session()): a run with no
webhooks configured never imports it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ordertrack import net
from ordertrack.config import Hook, Settings, Webhook
from ordertrack.notify import hookrun
from ordertrack.notify.policy import LEASE, backoff
from ordertrack.store import deliveries, feed
from ordertrack.store.db import Database, transaction
from ordertrack.store.locks import claimant_gone
from ordertrack.text import one_line, redact, secret_vars, storable
from ordertrack.timeutil import to_db

if TYPE_CHECKING:
    import requests

Clock = Callable[[], datetime]
Channel = Webhook | Hook
Result = tuple[str, str | None, float | None, bool]  # status, error, retry_after, uncertain
TAIL = 300  # characters of a command hook's output kept with its delivery


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0  # failed for good in this pass
    waiting: int = 0
    failed_before: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # destination → cause
    next_due: str | None = None


def signature(secret: str, stamp: int, body: bytes) -> str:
    """X-Ordertrack-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def body_of(event: dict[str, Any]) -> bytes:
    """The event as `ordertrack events --json` prints it."""
    return json.dumps(event, ensure_ascii=False).encode()


def channels(settings: Settings) -> tuple[Channel, ...]:
    return (*settings.webhooks, *settings.hooks)


def open_all(db: Database, hooks: Sequence[Channel], now: datetime) -> None:
    """One delivery per new feed event for each webhook and hook. Call inside a transaction."""
    for hook in hooks:
        deliveries.open_webhook(db, hook.destination, hook.kinds, now)


def _recover(db: Database, now: datetime) -> None:
    """Claims whose sender died (lease ran out, or its process is gone), maybe after sending:
    outcome unknown, due again now."""
    for row in deliveries.webhook_claims(db):
        if row["claimed_until"] <= to_db(now) or claimant_gone(row["claimed_by"]):
            deliveries.webhook_result(
                db,
                row["id"],
                "UNKNOWN",
                "the sender stopped while sending",
                now,
                now,
                uncertain=True,
            )


def _claim(db: Database, hook: Channel, sender: str, now: datetime) -> dict[str, Any] | None:
    """The destination's oldest unsent delivery if it is due and free, claimed; else None."""
    with transaction(db):
        _recover(db, now)
        head = deliveries.webhook_head(db, hook.destination)
        if head is None or head["status"] == "SENDING":
            return None
        if head["next_attempt_at"] and head["next_attempt_at"] > to_db(now):
            return None
        deliveries.webhook_claim(db, head["id"], sender, now + LEASE)
    return head


def _post(
    session: requests.Session,
    hook: Webhook,
    policy: net.RetryPolicy,
    feed_id: int,
    body: bytes,
    now: datetime,
) -> net.Reply:
    stamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": str(feed_id),
        "X-Ordertrack-Signature": signature(hook.secret, stamp, body),
        "User-Agent": "ordertrack",
    }
    # A 2xx's body is not needed, a 4xx's only for its first 200 characters: past the cap it
    # is left unread and the reply still counts.
    return net.send(
        session,
        "POST",
        hook.url,
        policy=policy,
        data=body,
        headers=headers,
        allow_redirects=False,
        limit=net.SMALL_REPLY,
        cut=True,
    )


def _classify(reply: net.Reply | None, failure: net.HttpFailure | None) -> Result:
    """(status, error, retry_after, uncertain) for one POST's outcome."""
    if failure is not None:
        return (
            "UNKNOWN" if failure.outcome_unknown else "PENDING",
            str(failure),
            None,
            failure.outcome_unknown,
        )
    assert reply is not None
    if 200 <= reply.status < 300:
        return "SENT", None, None, False
    said = one_line(redact(reply.text), 200)
    error = f"the webhook answered HTTP {reply.status}" + (f": {said}" if said else "")
    if reply.status in (408, 429) or reply.status >= 500:
        return "PENDING", error, reply.retry_after(), False
    return "FAILED", error, None, False


def _hook_env() -> dict[str, str]:
    """The environment a command hook runs in: ours without the secrets."""
    hidden = set(secret_vars())
    return {name: value for name, value in os.environ.items() if name not in hidden}


def _tail(output: bytes) -> str:
    return one_line(redact(output.decode(errors="replace").strip()[-TAIL:]), TAIL + 10)


def _run_hook(hook: Hook, body: bytes, timeout: float) -> Result:
    """The hook's command (no shell) with the event on stdin: exit 0 = delivered; a hook that
    overran its timeout is killed with its whole process group and, like a POST without reply,
    may have acted."""
    try:
        ran = hookrun.run(list(hook.command), body, timeout, _hook_env())
    except OSError as exc:
        return "PENDING", f"cannot run the hook: {exc.strerror or exc}", None, False
    said = _tail(ran.output)
    if ran.code is None:
        return (
            "UNKNOWN",
            f"the hook ran longer than {timeout:g} s and was stopped"
            + (f"; output: {said}" if said else ""),
            None,
            True,
        )
    if ran.code == 0:
        return "SENT", f"output: {said}" if said else None, None, False
    return (
        "PENDING",
        f"the hook exited with {ran.code}" + (f"; output: {said}" if said else ""),
        None,
        False,
    )


def _attempt(
    session: requests.Session | None,
    hook: Channel,
    policy: net.RetryPolicy,
    feed_id: int,
    body: bytes,
    now: datetime,
) -> Result:
    if isinstance(hook, Hook):
        return _run_hook(hook, body, policy.read_timeout)
    assert session is not None  # deliver() opens one when there is a webhook
    try:
        return _classify(_post(session, hook, policy, feed_id, body, now), None)
    except net.HttpFailure as exc:
        return _classify(None, exc)


def _send_one(
    db: Database,
    session: requests.Session | None,
    hook: Channel,
    policy: net.RetryPolicy,
    head: dict[str, Any],
    sender: str,
    clock: Clock,
) -> str:
    feed_id = int(head["feed_id"])
    found = feed.since(db, feed_id - 1, limit=1)
    if found and found[0]["id"] == feed_id:
        status, error, asked, uncertain = _attempt(
            session, hook, policy, feed_id, body_of(found[0]), clock()
        )
    else:  # cannot happen while feed rows are never deleted; kept visible if it does
        status, error, asked, uncertain = "FAILED", f"feed event {feed_id} is gone", None, False
    now = clock()
    wait = backoff(int(head["attempts"]) + 1, asked)
    with transaction(db):
        if not deliveries.webhook_owned(db, int(head["id"]), sender):
            return "SENDING"  # another sender took the claim over (lease ran out)
        deliveries.webhook_result(
            db,
            int(head["id"]),
            status,
            storable(redact(error)) if error else None,
            now + wait if status in ("PENDING", "UNKNOWN") else None,
            now,
            uncertain,
        )
    return status


def deliver(
    db: Database,
    settings: Settings,
    sender: str,
    clock: Clock,
    session: requests.Session | None = None,
) -> Outcome:
    """Send every due webhook delivery, each webhook in feed order. Call with no transaction
    open (deliveries must have been opened by open_all). `sender`: claimant() of this process."""
    outcome = Outcome()
    hooks = channels(settings)
    policy = net.RetryPolicy(attempts=1, read_timeout=settings.telegram_timeout)
    client = session or (net.session() if settings.webhooks else None)  # hooks need none
    try:
        for hook in hooks:
            _drain(db, client, hook, policy, sender, clock, outcome)
    finally:
        if session is None and client is not None:
            client.close()
    destinations = [hook.destination for hook in hooks]
    outcome.waiting, failed, outcome.next_due = deliveries.webhook_tally(db, destinations, clock())
    outcome.failed_before = failed - outcome.failed
    return outcome


def _drain(
    db: Database,
    session: requests.Session | None,
    hook: Channel,
    policy: net.RetryPolicy,
    sender: str,
    clock: Clock,
    outcome: Outcome,
) -> None:
    while (head := _claim(db, hook, sender, clock())) is not None:
        status = _send_one(db, session, hook, policy, head, sender, clock)
        outcome.sent += status == "SENT"
        outcome.failed += status == "FAILED"
        if status in ("PENDING", "UNKNOWN", "SENDING"):
            row = deliveries.webhook_head(db, hook.destination)
            if row and row["last_error"]:
                outcome.problems[hook.destination] = str(row["last_error"])
            return  # the line waits behind this event until its next attempt
        if status == "FAILED":
            outcome.problems[hook.destination] = f"event {head['feed_id']} failed for good"


def requeue_failed(db: Database, settings: Settings) -> int:
    with transaction(db):
        return deliveries.webhook_requeue_failed(db, [h.destination for h in channels(settings)])
