"""The sandbox gateway's hosted payment page: merchant, amount, Pay / Decline / Cancel."""

import threading

from django.conf import settings
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from topups.models import SandboxCheckout

from .sandbox import complete_checkout, send_notification

OUTCOMES = {
    "pay": SandboxCheckout.Status.PAID,
    "decline": SandboxCheckout.Status.DECLINED,
    "cancel": SandboxCheckout.Status.CANCELLED,
}
# A setup session saves a card ("paid" for the sandbox's own bookkeeping), or one that declines later.
SETUP_OUTCOMES = {"save": False, "save_declining": True}


def _sandbox_enabled():
    if settings.PAYMENT_GATEWAY != "sandbox":
        raise Http404("The sandbox gateway is not enabled.")


@require_http_methods(["GET", "POST"])
def checkout(request, session_id: str):
    _sandbox_enabled()
    session = get_object_or_404(SandboxCheckout, session_id=session_id)
    if request.method == "GET":
        context = {
            "session": session,
            "merchant": settings.MERCHANT_NAME,
            "payable": session.is_payable(timezone.now()),
        }
        return render(request, "sandbox/checkout.html", context)
    choice = request.POST.get("outcome", "")
    if session.mode == SandboxCheckout.Mode.SETUP and choice in SETUP_OUTCOMES:
        SandboxCheckout.objects.filter(pk=session.pk, status=SandboxCheckout.Status.OPEN).update(
            card_declines=SETUP_OUTCOMES[choice]
        )
        choice = "pay"
    outcome = OUTCOMES.get(choice)
    if outcome is None:
        return HttpResponseBadRequest("Choose Pay, Decline or Cancel.")
    saved_nothing = session.mode == SandboxCheckout.Mode.SETUP and outcome != SandboxCheckout.Status.PAID
    if complete_checkout(session, outcome=outcome) and not saved_nothing:
        # Like a real provider, notify from the side and do not hold the payer's page:
        # the return page's own check credits if this notification is slow or lost.
        webhook_url = settings.SITE_URL + reverse("payment_webhook", args=["sandbox"])
        threading.Thread(
            target=send_notification, args=(session,), kwargs={"webhook_url": webhook_url}, daemon=True
        ).start()
    # A second click on a closed session just goes back to the merchant.
    return redirect(session.cancel_url if session.status == SandboxCheckout.Status.CANCELLED else session.success_url)
