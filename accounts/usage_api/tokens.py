"""Service tokens: how a metering service authenticates to the usage-charge API."""

import hashlib
import secrets

from django.utils import timezone

from ..models import ServiceToken


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
        ServiceToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def revoke_service_token(*, token_id: int) -> None:
    ServiceToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
