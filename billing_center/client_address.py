"""The client's address, as the reverse proxies in front of us saw it.

Behind a load balancer every request comes from the balancer: REMOTE_ADDR is its address, the
same for every client. Each trusted proxy appends the address it saw to X-Forwarded-For, so with
TRUSTED_PROXY_COUNT proxies the client is the entry that many places from the right. Anything
to the left of it the client wrote itself, and a client that sends `X-Forwarded-For: 1.2.3.4`
only adds one more entry the proxies push leftwards: it cannot choose the address we count.
Login throttling (django-axes, AXES_CLIENT_IP_CALLABLE) and the /metrics allow-list read it here.
"""

from django.conf import settings


def client_address(request) -> str:
    """The peer, or behind TRUSTED_PROXY_COUNT reverse proxies the address the outermost of them
    appended to X-Forwarded-For; REMOTE_ADDR when the header is shorter than that (no proxy)."""
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    if count and len(forwarded) >= count:
        return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")
