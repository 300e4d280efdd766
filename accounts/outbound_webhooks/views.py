"""Developers › Webhooks: a customer's endpoints for their own account.

Thin: each POST reads one form and calls one service of .endpoints. An endpoint of another
account is a 404, whatever its id. A new or rotated secret is shown once, on the answer to
the POST that made it (never in a URL, never cached).
"""

from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from billing_center.errors import show_on_form
from billing_center.keyset import Keyset, keyset_page
from billing_center.responses import see_other
from money.errors import BillingError
from money.parsing import parse_id

from ..decorators import customer_required
from .endpoints import (
    change_endpoint,
    delete_endpoint,
    register_endpoint,
    replay_delivery,
    replay_range,
    rotate_secret,
    set_enabled,
)
from .events import EVENT_TYPES
from .forms import EndpointForm, ReplayRangeForm
from .models import EventDelivery, WebhookEndpoint


@customer_required
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def endpoints(request, account):
    form, status = EndpointForm(request.POST or None), 200
    if request.method == "POST":
        if form.is_valid():
            try:
                registered = register_endpoint(account=account, actor=request.user, **form.cleaned_data)
            except BillingError as exc:
                status = show_on_form(form, exc, "url" if exc.code.startswith("webhook_url") else None)
            else:
                return _secret_page(request, registered.endpoint, registered.secret, new=True)
        else:
            status = 400
    listed = list(account.webhook_endpoints.order_by("-created_at", "-id"))
    context = {"account": account, "endpoints": listed, "form": form, "event_types": EVENT_TYPES}
    return render(request, "webhooks/list.html", context, status=status)


@customer_required
@require_safe
def detail(request, account, endpoint_id):
    endpoint = _endpoint(account, endpoint_id)
    return _render_detail(request, account, endpoint)


@customer_required
@require_POST
def edit(request, account, endpoint_id):
    def save(endpoint, data) -> str:
        change_endpoint(endpoint, **data)
        return _("The endpoint was saved.")

    return _submit(request, account, endpoint_id, EndpointForm, "edit_form", save)


@customer_required
@never_cache
@require_POST
def rotate(request, account, endpoint_id):
    endpoint = _endpoint(account, endpoint_id)
    return _secret_page(request, endpoint, rotate_secret(endpoint), new=False)


@customer_required
@require_POST
def toggle(request, account, endpoint_id):
    endpoint = _endpoint(account, endpoint_id)
    enable = request.POST.get("enabled") == "true"
    set_enabled(endpoint, enable)
    told = _("The endpoint is on.") if enable else _("The endpoint is off: events wait until it is on again.")
    messages.success(request, told)
    return see_other(reverse("webhooks:detail", args=[endpoint.pk]))


@customer_required
@require_POST
def delete(request, account, endpoint_id):
    endpoint = _endpoint(account, endpoint_id)
    delete_endpoint(endpoint)
    messages.success(request, _("The endpoint %(url)s was removed.") % {"url": endpoint.url})
    return see_other(reverse("webhooks:endpoints"))


@customer_required
@require_POST
def replay(request, account, endpoint_id, delivery_id):
    endpoint = _endpoint(account, endpoint_id)
    delivery = EventDelivery.objects.filter(endpoint=endpoint, pk=parse_id(delivery_id)).first()
    if delivery is None:
        raise Http404("No such delivery.")
    replay_delivery(delivery)
    messages.success(request, _("Event %(id)s will be sent again.") % {"id": delivery.event.event_id})
    return see_other(reverse("webhooks:detail", args=[endpoint.pk]))


@customer_required
@require_POST
def replay_between(request, account, endpoint_id):
    def replay(endpoint, data) -> str:
        count = replay_range(endpoint, **data)
        return _("%(count)s event(s) will be sent again, oldest first.") % {"count": count}

    return _submit(request, account, endpoint_id, ReplayRangeForm, "range_form", replay)


def _submit(request, account, endpoint_id, form_class, form_name: str, act):
    """One endpoint form posted: done → 303 to the endpoint with what `act` says; refused → the
    page again with the form's errors and the status of the refusal."""
    endpoint = _endpoint(account, endpoint_id)
    form, status = form_class(request.POST), 400
    if form.is_valid():
        try:
            messages.success(request, act(endpoint, form.cleaned_data))
            return see_other(reverse("webhooks:detail", args=[endpoint.pk]))
        except BillingError as exc:
            status = show_on_form(form, exc, "url" if exc.code.startswith("webhook_url") else None)
    return _render_detail(request, account, endpoint, status=status, **{form_name: form})


def _endpoint(account, endpoint_id) -> WebhookEndpoint:
    endpoint = account.webhook_endpoints.filter(pk=parse_id(endpoint_id)).first()
    if endpoint is None:
        raise Http404("No such endpoint for this account.")
    return endpoint


def _secret_page(request, endpoint, secret: str, *, new: bool):
    context = {"endpoint": endpoint, "secret": secret, "new": new}
    return render(request, "webhooks/secret.html", context, status=201 if new else 200)


def _render_detail(request, account, endpoint, *, edit_form=None, range_form=None, status=200):
    # Newest event first, a page at a time from a cursor (billing_center.keyset): the event's id
    # orders them, served by the (endpoint, event) unique index. The page shows no payload (a
    # charge.created lists every charge of its call: tens of kilobytes each).
    deliveries = endpoint.deliveries.select_related("event").defer("event__payload")
    deliveries = Keyset(deliveries, time="event_id", pk="id")
    page = keyset_page(deliveries, request.GET, size=25)
    prefetch_related_objects(page.object_list, "log")
    initial = {"url": endpoint.url, "description": endpoint.description, "event_types": endpoint.event_types}
    context = {
        "account": account,
        "endpoint": endpoint,
        "page": page,
        "edit_form": edit_form or EndpointForm(initial=initial),
        "range_form": range_form or ReplayRangeForm(),
        "event_types": EVENT_TYPES,
    }
    return render(request, "webhooks/detail.html", context, status=status)
