"""The usage-charge API for the cloud's metering services: bearer tokens, JSON in and out.

No session or cookie is involved, so CSRF does not apply; a request without a valid token
is a 401 before anything else is read. The contract, /api/v1/openapi.json and its page
/api/v1/docs (accounts.usage_api.openapi), is public.
"""

import hashlib
import json
from decimal import Decimal
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control
from django.utils.http import parse_etags
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from djmoney.money import Money

from billing_center.errors import error_json, status_for
from billing_center.text import clean_text
from money.errors import BillingError
from money.formatting import plain_amount
from money.parsing import parse_amount, parse_id

from ..models import Account
from .charges import KEY, LARGEST_CHARGE, MAX_BATCH, ChargeRequest, ChargeResult, post_usage_charges, reused_key
from .docs import docs_context
from .openapi import document
from .tokens import authenticate_service

OPENAPI_MAX_AGE = 300  # seconds a client or proxy may keep the document before revalidating it


class BadCharge(ValueError):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def error(status: int, code: str, message: str) -> JsonResponse:
    return error_json(code, message, status)


class JsonNumber(str):
    """The text of a JSON number with a fraction or exponent, kept as written: the amount
    parser then sees "1e3" as typed and refuses it, where float() or Decimal() would read 1000."""


def method_not_allowed(method: str) -> JsonResponse:
    response = error(405, "method_not_allowed", _("Use %(method)s here.") % {"method": method})
    response["Allow"] = method
    return response


def api_view(method: str):
    """A token-authenticated JSON endpoint: every answer, errors included, is JSON."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method != method:
                return method_not_allowed(method)
            token = authenticate_service(request.headers.get("Authorization", ""))
            if token is None:
                response = error(
                    401, "unauthorized", _("Send a valid, unrevoked service token as 'Authorization: Bearer …'.")
                )
                response["WWW-Authenticate"] = 'Bearer realm="billing-center"'
                return response
            return view(request, *args, service=token.service, **kwargs)

        return wrapper

    return decorate


def public_get(view):
    """The contract's two routes: anyone may read them, no token; any other method is the API's JSON 405."""

    @csrf_exempt  # they change nothing; a POST gets the 405, not the HTML CSRF page
    @wraps(view)
    def wrapper(request):
        return view(request) if request.method == "GET" else method_not_allowed("GET")

    return wrapper


@public_get
def openapi_json(request):
    """The OpenAPI document, always in English; cacheable, revalidated by its ETag."""
    with translation.override("en"):
        body = json.dumps(document(), ensure_ascii=False).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    sent = {tag.removeprefix("W/") for tag in parse_etags(request.headers.get("If-None-Match", ""))}
    if etag in sent or "*" in sent:
        response = HttpResponse(status=304)
        del response["Content-Type"]  # no body
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=OPENAPI_MAX_AGE)
    return response


@public_get
def docs_page(request):
    """The same document as a page for people: operations, schemas and examples, in their language."""
    return render(request, "api/docs.html", docs_context(document()))


@csrf_exempt  # like every API answer: JSON, whatever the method, never the HTML CSRF page
def not_found(request, rest: str = ""):
    return error(404, "not_found", _("There is no such API endpoint; /api/v1/docs lists them."))


@api_view("POST")
def post_charge(request, service):
    try:
        body = _json(request)
        charge = _charge(body)
    except BadCharge as exc:
        return error(exc.status, exc.code, exc.message)
    (result,) = post_usage_charges(service=service, requests=[charge])
    if result.error is not None:
        return error(status_for(result.error), result.error.code, result.error.message)
    return JsonResponse(_charge_json(result), status=201 if result.outcome == "created" else 200)


@api_view("POST")
def post_charge_batch(request, service):
    try:
        body = _json(request)
    except BadCharge as exc:
        return error(exc.status, exc.code, exc.message)
    items = body.get("charges") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        return error(400, "bad_request", _('Send {"charges": [ ... ]} with at least one charge.'))
    if len(items) > MAX_BATCH:
        return error(
            413,
            "batch_too_large",
            _("A batch holds at most %(limit)s charges; this one has %(count)s.")
            % {"limit": MAX_BATCH, "count": len(items)},
        )
    valid, results, refused_keys = [], [None] * len(items), set()
    for index, item in enumerate(items):
        try:
            charge = _charge(item)
        except BadCharge as exc:
            key = item.get("idempotency_key") if isinstance(item, dict) else None
            key = key if isinstance(key, str) else ""
            results[index] = ChargeResult(str(key or "")[:100], "error", error=BillingError(exc.message, code=exc.code))
            refused_keys.add(results[index].idempotency_key)
            continue
        if charge.idempotency_key in refused_keys:  # the key's first use in the batch was another, refused body
            results[index] = reused_key(charge.idempotency_key)
            continue
        valid.append((index, charge))
    if valid:
        posted = post_usage_charges(service=service, requests=[charge for _index, charge in valid])
        for (index, _request), result in zip(valid, posted, strict=True):
            results[index] = result
    counts = {outcome: sum(r.outcome == outcome for r in results) for outcome in ("created", "duplicate", "error")}
    return JsonResponse({"results": [_charge_json(r) for r in results], **counts}, status=200)


@api_view("GET")
def account_balance(request, account_id: int, service):
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        return error(404, "unknown_account", _("There is no account %(account)s.") % {"account": account_id})
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
        raise BadCharge("bad_request", _("Send the body as JSON with Content-Type: application/json."))
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise BadCharge("too_large", _("The body is too large: send at most 1,000 charges per batch."), 413) from exc
    try:
        # Decimal, never float: 0.1 + 0.2 must stay 0.30 on its way to the ledger.
        return json.loads(
            body, parse_float=JsonNumber, parse_constant=_refuse_constant, object_pairs_hook=_object_once_per_key
        )
    except json.JSONDecodeError as exc:
        error = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise BadCharge("bad_json", (_("The body is not valid JSON: %(error)s") % {"error": error})[:200]) from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # Python's own refusal of a 4,300-digit number named sys.set_int_max_str_digits(): said in JSON's terms.
        error = "a number has too many digits" if "int_max_str_digits" in str(exc) else exc
        raise BadCharge("bad_json", (_("The body is not valid JSON: %(error)s") % {"error": error})[:200]) from exc


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _object_once_per_key(pairs: list) -> dict:
    """{"account": 1, "account": 2} is refused: the last one had silently won, and parsers along the
    way may each pick another, which is no way to name the account a charge debits."""
    found = dict(pairs)
    if len(found) != len(pairs):  # rare: only then look for the key (1,000 charges' objects cost ~0.3 ms)
        keys = [key for key, _value in pairs]
        twice = next(key for key in keys if keys.count(key) > 1)
        raise ValueError(f"the key {twice!r} appears twice in one object")
    return found


def _charge(item) -> ChargeRequest:
    if not isinstance(item, dict):
        raise BadCharge("bad_request", _("Each charge is a JSON object."))
    key = item.get("idempotency_key")
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise BadCharge("bad_idempotency_key", _("idempotency_key: 1–100 characters of letters, digits and _ . : -."))
    try:
        account = parse_id(item.get("account"), what="account", minimum=0)
    except BillingError:
        raise BadCharge("bad_account", _("account: the numeric id of the account to charge.")) from None
    currency = item.get("currency")
    if not isinstance(currency, str) or currency not in settings.CURRENCIES:
        raise BadCharge(
            "bad_currency", _("currency: one of %(currencies)s.") % {"currencies": ", ".join(settings.CURRENCIES)}
        )
    amount = _amount(item.get("amount"), currency)
    description = item.get("description", "")
    if not isinstance(description, str) or len(description) > 300:
        raise BadCharge("bad_description", _("description: text of at most 300 characters."))
    return ChargeRequest(account, Money(amount, currency), key, clean_text(description))


def _amount(value, currency: str) -> Decimal:
    """A JSON string ("12.34") or number (12.34, 12) in plain digits: no exponent, no sign."""
    if isinstance(value, JsonNumber | int) and not isinstance(value, bool) or isinstance(value, str):
        try:
            return parse_amount(value, currency, maximum=LARGEST_CHARGE)
        except BillingError as exc:
            raise BadCharge("bad_amount", f"amount: {exc.message}") from None
    raise BadCharge("bad_amount", _('amount: a positive decimal, as a string ("12.34") or a number.'))


def _charge_json(result: ChargeResult) -> dict:
    if result.error is not None:
        return {
            "idempotency_key": result.idempotency_key,
            "outcome": "error",
            "error": {"code": result.error.code, "message": result.error.message},
        }
    charge = result.charge
    return {
        "idempotency_key": charge.idempotency_key,
        "outcome": result.outcome,
        "charge": {
            "id": charge.id,
            "account": charge.account_id,
            "amount": plain_amount(charge.amount),
            "currency": str(charge.amount.currency),
            "description": charge.description,
            "balance_after": plain_amount(charge.balance_after),
            "created_at": charge.created_at.isoformat(timespec="seconds"),
        },
    }
