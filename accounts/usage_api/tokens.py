"""Service tokens: how a metering service authenticates to the usage-charge API."""

import hashlib
import secrets
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..models import ServiceToken

# How fresh "last used at" is kept: admin shows when a token was last used, to the minute, so a
# busy metering service does not write (and commit) the token's row on every call.
LAST_USED_PRECISION = timedelta(minutes=1)


def create_service_token(*, service: str, name: str) -> tuple[ServiceToken, str]:
    """A new token; the plain text is returned once and only its SHA-256 is stored."""
    plain = f"bc_{secrets.token_urlsafe(32)}"
    token = ServiceToken.objects.create(service=service, name=name, token_hash=hash_token(plain), prefix=plain[:10])
    return token, plain


def hash_token(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def authenticate_service(authorization: str) -> ServiceToken | None:
    """The active token named by an `Authorization: Bearer …` header, or None."""
    scheme, _, plain = authorization.partition(" ")
    if scheme.lower() != "bearer" or not plain.strip():
        return None
    token = ServiceToken.objects.filter(token_hash=hash_token(plain.strip()), revoked_at__isnull=True).first()
    if token is not None:
        now = timezone.now()
        stale = now - LAST_USED_PRECISION
        if token.last_used_at is None or token.last_used_at < stale:
            # Conditional, so callers racing past the check above write the row once between them.
            stamped = Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
            ServiceToken.objects.filter(stamped, pk=token.pk).update(last_used_at=now)
    return token


def revoke_service_token(*, token_id: int) -> None:
    ServiceToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
