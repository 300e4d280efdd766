"""The usage-charge API for the cloud's metering services: bearer tokens, JSON in and out.

No session or cookie is involved, so CSRF does not apply; a request without a valid token
is a 401 before anything else is read.
"""

import json
import re
from decimal import Decimal, InvalidOperation
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from djmoney.money import Money

from billing_center.text import clean_text
from money.formatting import minor_places, plain_amount

from .forms import DIGITS
from .models import Account
from .services import MAX_BATCH, ChargeRequest, ChargeResult, authenticate_service, post_usage_charges

KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,100}", re.ASCII)
LARGEST_CHARGE = Decimal("1000000000")


class BadCharge(ValueError):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def api_view(method: str):
    """A token-authenticated JSON endpoint: every answer, errors included, is JSON."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method != method:
                response = error(405, "method_not_allowed", f"Use {method} here.")
                response["Allow"] = method
                return response
            token = authenticate_service(request.headers.get("Authorization", ""))
            if token is None:
                response = error(
                    401, "unauthorized", "Send a valid, unrevoked service token as 'Authorization: Bearer …'."
                )
                response["WWW-Authenticate"] = 'Bearer realm="billing-center"'
                return response
            return view(request, *args, service=token.service, **kwargs)

        return wrapper

    return decorate


def not_found(request, rest: str = ""):
    return error(404, "not_found", "There is no such API endpoint. See /api/v1/charges, /api/v1/charges/batch.")


@api_view("POST")
def post_charge(request, service):
    try:
        body = _json(request)
        charge = _charge(body)
    except BadCharge as exc:
        return error(exc.status, exc.code, exc.message)
    (result,) = post_usage_charges(service=service, requests=[charge])
    if result.outcome == "error":
        return error(result.http_status, result.error_code, result.error_message)
    return JsonResponse(_charge_json(result), status=result.http_status)


@api_view("POST")
def post_charge_batch(request, service):
    try:
        body = _json(request)
    except BadCharge as exc:
        return error(exc.status, exc.code, exc.message)
    items = body.get("charges") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return error(400, "bad_request", 'Send {"charges": [ ... ]} with at least one charge.')
    if len(items) > MAX_BATCH:
        return error(413, "batch_too_large", f"A batch holds at most {MAX_BATCH} charges; this one has {len(items)}.")
    valid, results = [], [None] * len(items)
    for index, item in enumerate(items):
        try:
            valid.append((index, _charge(item)))
        except BadCharge as exc:
            key = item.get("idempotency_key") if isinstance(item, dict) else None
            key = key if isinstance(key, str) else ""
            results[index] = ChargeResult(
                str(key or "")[:100], "error", error_code=exc.code, error_message=exc.message, http_status=400
            )
    if valid:
        posted = post_usage_charges(service=service, requests=[charge for _, charge in valid])
        for (index, _), result in zip(valid, posted, strict=True):
            results[index] = result
    counts = {outcome: sum(r.outcome == outcome for r in results) for outcome in ("created", "duplicate", "error")}
    return JsonResponse({"results": [_charge_json(r) for r in results], **counts}, status=200)


@api_view("GET")
def account_balance(request, account_id: int, service):
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        return error(404, "unknown_account", f"There is no account {account_id}.")
    return JsonResponse(
        {
            "account": account.pk,
            "balance": plain_amount(account.balance),
            "currency": account.billing_currency,
            "in_arrears": account.balance.amount < 0,
            "as_of": timezone.now().isoformat(timespec="seconds"),
        }
    )


def _json(request):
    if request.content_type != "application/json":
        raise BadCharge("bad_request", "Send the body as JSON with Content-Type: application/json.")
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise BadCharge("too_large", "The body is too large: send at most 1,000 charges per batch.", 413) from exc
    try:
        # Decimal, never float: 0.1 + 0.2 must stay 0.30 on its way to the ledger.
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadCharge("bad_json", f"The body is not valid JSON: {exc}"[:200]) from exc


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _charge(item) -> ChargeRequest:
    if not isinstance(item, dict):
        raise BadCharge("bad_request", "Each charge is a JSON object.")
    key = item.get("idempotency_key")
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise BadCharge("bad_idempotency_key", "idempotency_key: 1–100 characters of letters, digits and _ . : -.")
    account = item.get("account")
    if isinstance(account, bool) or not isinstance(account, int | str) or not _ascii_digits(str(account)):
        raise BadCharge("bad_account", "account: the numeric id of the account to charge.")
    if len(str(account)) > 18:
        raise BadCharge("bad_account", "account: the numeric id of the account to charge.")
    currency = item.get("currency")
    if not isinstance(currency, str) or currency not in settings.CURRENCIES:
        raise BadCharge("bad_currency", f"currency: one of {', '.join(settings.CURRENCIES)}.")
    amount = _amount(item.get("amount"), currency)
    description = item.get("description", "")
    if not isinstance(description, str) or len(description) > 300:
        raise BadCharge("bad_description", "description: text of at most 300 characters.")
    return ChargeRequest(int(account), Money(amount, currency), key, clean_text(description))


def _amount(value, currency: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise BadCharge("bad_amount", 'amount: a positive decimal, as a string ("12.34") or a number.')
    if isinstance(value, str) and not DIGITS.fullmatch(value.strip()):
        raise BadCharge("bad_amount", 'amount: a positive decimal in plain digits, e.g. "12.34".')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise BadCharge("bad_amount", 'amount: a positive decimal, e.g. "12.34".') from exc
    if not amount.is_finite() or amount <= 0:
        raise BadCharge(
            "bad_amount", "amount: must be more than zero; charges are debits, credits are not posted here."
        )
    if amount > LARGEST_CHARGE:
        raise BadCharge("bad_amount", f"amount: at most {LARGEST_CHARGE} per charge.")
    places = minor_places(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):  # exact: "1.50" is fine, "1.001" is not
        raise BadCharge("bad_amount", f"amount: {currency} has {places} decimal places.")
    return amount


def _ascii_digits(text: str) -> bool:
    """str.isdigit() alone accepts "²" and "١", which int() then refuses or reads as another id."""
    return text.isascii() and text.isdigit()


def _charge_json(result: ChargeResult) -> dict:
    if result.outcome == "error":
        return {
            "idempotency_key": result.idempotency_key,
            "outcome": "error",
            "error": {"code": result.error_code, "message": result.error_message},
        }
    charge = result.charge
    return {
        "idempotency_key": charge.idempotency_key,
        "outcome": result.outcome,
        "charge": {
            "id": charge.pk,
            "account": charge.account_id,
            "amount": plain_amount(charge.amount),
            "currency": str(charge.amount.currency),
            "description": charge.description,
            "balance_after": plain_amount(charge.ledger_entry.balance_after),
            "created_at": charge.created_at.isoformat(timespec="seconds"),
        },
    }
