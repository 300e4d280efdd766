from csp.decorators import csp_exempt
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .deliveries import record_rejected_delivery, store_delivery
from .exceptions import InvalidNotification
from .gateways import get_gateway_or_404

# Gateway events are a few KB; anything far larger is not one of them.
MAX_WEBHOOK_BYTES = 256 * 1024


@csrf_exempt  # the gateway cannot send our CSRF token: its signature authenticates it instead
@csp_exempt()  # a machine's JSON or plain-text answer: no page to protect, and the policy cost a tenth of a delivery
@require_POST
def payment_webhook(request, gateway_name: str):
    gateway = get_gateway_or_404(gateway_name)
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_WEBHOOK_BYTES:
        return HttpResponse("Payload too large.", status=413, content_type="text/plain")
    body = request.body
    signature = request.headers.get(getattr(gateway, "signature_header", ""), "") or ""
    try:
        notice = gateway.parse_notification(body, request.headers)
    except InvalidNotification as exc:
        record_rejected_delivery(gateway_name=gateway_name, body=body, signature=signature, error=exc.message)
        return HttpResponseBadRequest(exc.message, content_type="text/plain")
    verdict = store_delivery(gateway_name=gateway_name, notice=notice, body=body, signature=signature)
    # Stored and committed: a worker applies it (topups.batches). The answer says "received"
    # until then, and what was done once it has been applied.
    return JsonResponse({"received": True, "event": notice.event_id, "verdict": verdict})
