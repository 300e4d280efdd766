"""Behind the load balancer every request comes from the balancer's address; login throttling
counts each client by the address the balancer appended to X-Forwarded-For, and a client that
writes its own X-Forwarded-For cannot sign in past its lockout. (Through a real nginx:
tests/reliability/test_cluster.py.)"""

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BALANCER = "10.0.0.2"


def sign_in(username: str, password: str, forwarded_for: str, *, remote: str = BALANCER) -> int:
    response = Client(REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded_for).post(
        "/login/", {"username": username, "password": password}
    )
    return response.status_code


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def test_failures_count_against_the_client_the_balancer_saw_not_the_balancer(behind_one_proxy):
    user = UserFactory()
    answers = [sign_in(user.username, "wrong", "203.0.113.5") for _ in range(3)]
    assert answers == [200, 200, 429]  # the form again with its error, then the lockout page
    assert sign_in(user.username, "secret-pass-123", "203.0.113.5") == 429  # locked out
    # The same user from another client behind the same balancer is not locked out.
    assert sign_in(user.username, "secret-pass-123", "203.0.113.6") == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}


def test_a_client_cannot_write_its_way_out_of_a_lockout(behind_one_proxy):
    user = UserFactory()
    for _ in range(3):
        sign_in(user.username, "wrong", "203.0.113.5")
    # The client's own header comes first; the balancer appends the address it saw.
    assert sign_in(user.username, "secret-pass-123", "198.51.100.7, 203.0.113.5") == 429
    assert sign_in(user.username, "secret-pass-123", "203.0.113.6, 203.0.113.5") == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}


def test_without_a_trusted_proxy_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.AXES_FAILURE_LIMIT = 3
    user = UserFactory()
    for forwarded in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        sign_in(user.username, "wrong", forwarded, remote="192.0.2.10")
    assert sign_in(user.username, "secret-pass-123", "203.0.113.4", remote="192.0.2.10") == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.10"}
