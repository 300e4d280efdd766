"""Every action of every admin list, ours and the libraries', sent a selection that is not a list of
ids (a forged or mangled form): a message and a redirect, never a 500 from the database
(billing_center.admin_base.refusing_mangled_selections, around every list by FinanceAdminSite). An
attacker's walk had found Accounts, Postpaid accounts, Users and Service tokens answering 500."""

import pytest
from django.contrib import admin
from django.db import models
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import UserFactory
from tests.helpers import staff_login

pytestmark = pytest.mark.django_db
MANGLED = ["abc", "", "99999999999999999999", "1 OR 1=1", "１"]  # the last a full-width digit


def every_action():
    root = UserFactory.build(is_staff=True, is_superuser=True)
    request = RequestFactory().get("/admin/")
    request.user = root
    for model, model_admin in admin.site._registry.items():
        for name in model_admin.get_actions(request):
            yield pytest.param(model, name, id=f"{model._meta.label_lower}:{name}")


@pytest.mark.parametrize("model, action", list(every_action()))
def test_a_mangled_selection_is_a_message_not_a_500(client, model, action):
    root = UserFactory(username="root", account=None, is_staff=True, is_superuser=True)
    staff_login(client, root)
    changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for selected in MANGLED:
        for extra in ({}, {"post": "yes"}):
            answer = client.post(changelist, {"action": action, "_selected_action": [selected], **extra})
            if not isinstance(model._meta.pk, models.IntegerField):
                assert answer.status_code < 500  # a name as the key (a rate sheet): any text may be one
                continue
            assert answer.status_code == 302, (selected, extra, answer.status_code)
            assert [str(m) for m in answer.wsgi_request._messages][-1] == (
                "The selection was not understood; nothing was changed."
            )


@pytest.mark.parametrize(
    "model, action", [p for p in every_action() if isinstance(p.values[0]._meta.pk, models.IntegerField)]
)
def test_a_selection_whose_records_are_gone_says_so(client, model, action):
    """An id the list no longer holds (deleted, or a line on another list since): it had run the action on
    nothing and answered with an empty message, or none."""
    root = UserFactory(username="root", account=None, is_staff=True, is_superuser=True)
    staff_login(client, root)
    changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for extra in ({}, {"post": "yes"}):
        answer = client.post(changelist, {"action": action, "_selected_action": ["99999"], **extra})
        assert answer.status_code == 302, (extra, answer.status_code)
        said = [str(m) for m in answer.wsgi_request._messages]
        assert said[-1] == "None of the selected records is on this list any more; nothing was changed.", said


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/account/?created_at__year=99999",
        "/admin/tickets/invoice/?issue_date__year=9999",
        "/admin/accounts/ledgerentry/?created_at__year=2026&created_at__month=13",
        "/admin/accounts/ledgerentry/?created_at__year=2026&created_at__month=12&created_at__day=１",
    ],
)
def test_a_date_drill_down_no_calendar_has_is_djangos_incorrect_lookup_page_not_a_500(client, url):
    staff_login(client, UserFactory(is_staff=True, is_superuser=True))
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


@pytest.mark.parametrize(
    "path", ["accounts/account/abc/history/", "accounts/account/{pk}/history/abc/", "tickets/invoice/1%201/history/"]
)
def test_a_history_page_for_an_id_no_record_could_have_is_a_404(client, path):
    admin = UserFactory(is_staff=True, is_superuser=True)
    staff_login(client, admin)
    assert client.get("/admin/" + path.format(pk=admin.account_id)).status_code == 404


def test_staff_who_may_not_see_a_list_are_refused_alike_for_ids_that_exist_and_ids_that_do_not(client):
    """An existing id had answered 403 and a missing one a message, telling them apart (found by a helper)."""
    from tests.factories import PendingTopUpFactory

    topup = PendingTopUpFactory()
    staff_login(client, UserFactory(is_staff=True))  # staff, not in the Finance group
    for pk in (topup.pk, 99_999):
        response = client.post("/admin/topups/topup/", {"action": "refund", "_selected_action": [str(pk)]})
        assert response.status_code == 403, pk
