"""Where a webhook may be sent: https in production, and never to our own network.

A URL's host is resolved and every address it resolves to must be a public one — not
private, loopback, link-local, multicast, reserved or unspecified, IPv4 or IPv6, whatever
form the address is written in (2130706433, 0177.0.0.1, ::ffff:127.0.0.1 and the 6to4
2002:7f00:1:: are 127.0.0.1 too). The check runs at registration and again at every delivery,
and the delivery connects to the address that was checked, so a name that changes what it
resolves to (DNS rebinding) reaches nothing of ours.
WEBHOOK_ALLOW_LOOPBACK lets tests deliver to a receiver on 127.0.0.1 over http.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.encoding import iri_to_uri
from django.utils.translation import gettext as _

from money.errors import Invalid


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (the vetted address) and what to ask for."""

    scheme: str
    host: str  # the name, for the Host header and the certificate
    address: str  # the vetted IP to connect to
    port: int
    path: str


def check_url(url: str) -> Target:
    """The URL's target, or Invalid saying why it may not be used."""
    parts = urlsplit(url.strip())
    loopback_allowed = settings.WEBHOOK_ALLOW_LOOPBACK
    allowed_schemes = ("https", "http") if loopback_allowed or not settings.WEBHOOK_REQUIRE_HTTPS else ("https",)
    if parts.scheme not in allowed_schemes:
        raise Invalid(_("The URL must start with https://."), code="webhook_url_scheme")
    if not parts.hostname or parts.username or parts.password:
        raise Invalid(_("The URL needs a host name, and no user name or password."), code="webhook_url_host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    elif not 1 <= port <= 65535:  # ":0" had been read as no port, and delivered to 443
        raise Invalid(_("The URL's port is not a number from 1 to 65535."), code="webhook_url_port")
    try:
        host = parts.hostname.encode("idna").decode("ascii")  # an internationalised name as DNS and TLS know it
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Invalid(
            _("%(host)s does not resolve to an address.") % {"host": parts.hostname}, code="webhook_url_dns"
        ) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not (_is_public(ip) or (loopback_allowed and ip.is_loopback)):
            message = _("%(host)s resolves to %(address)s, a private address: webhooks go to the internet only.")
            raise Invalid(message % {"host": parts.hostname, "address": address}, code="webhook_url_private")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # A path or query in any script is sent percent-encoded, as a browser sends it: HTTP's request line is ASCII,
    # and the delivery had failed before recording an attempt, again at every sweep (found by a helper).
    return Target(parts.scheme, host, addresses[0], port, iri_to_uri(path))


# Not on the internet, though the ipaddress module of some Python versions calls them global: the
# IETF's protocol assignments (192.0.0.0/24, global in Python 3.11.7) and IPv6's deprecated
# site-local addresses (fec0::/10, global in every version), used as private networks.
NOT_GLOBAL = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("fec0::/10"))


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one is judged by it too: ::ffff:a.b.c.d is that
        # address, and a 6to4 address (2002:AABB:CCDD::) is tunnelled to AA.BB.CC.DD.
        if address.sixtofour is not None and not _is_public(address.sixtofour):
            return False
        address = address.ipv4_mapped or address
    if any(address in network for network in NOT_GLOBAL if network.version == address.version):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved)
