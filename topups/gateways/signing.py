"""The webhook signature scheme both our gateways use: Stripe's.

Header `t=<unix time>,v1=<hex hmac>[,v1=...]`, where the HMAC-SHA256 is computed with
the endpoint secret over `"<t>." + raw body`. Several v1 values arrive while Stripe
rolls a secret, and we may hold several secrets while we rotate ours: any match of
any secret is accepted. Timestamps outside the tolerance, in the past or the future,
are refused so a captured delivery cannot be replayed later.
"""

import hashlib
import hmac
import re
import time

from topups.exceptions import InvalidNotification

# ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


def compute_signature(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={compute_signature(body, secret, timestamp)}"


def verify(body: bytes, header: str | None, secrets: list[str], *, tolerance: int, now: float | None = None) -> None:
    """Raise InvalidNotification unless `header` signs `body` with one of `secrets`."""
    if not secrets:
        raise InvalidNotification("No webhook secret is configured for this gateway.")
    if not header:
        raise InvalidNotification("Missing signature header.")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidNotification("Malformed signature header: expected t=<time>,v1=<signature>.")
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise InvalidNotification("Signature timestamp is outside the tolerance window.")
    for secret in secrets:
        expected = compute_signature(body, secret, timestamp)
        # As bytes: a header may carry any character, and compare_digest refuses non-ASCII str (a 500).
        if any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in signatures):
            return
    raise InvalidNotification("Signature does not match the payload.")
