"""The usage-charge API's contract: an OpenAPI 3.1 document for /api/v1, written by hand.

`document()` builds it as a dict: the paths here, the data shapes in openapi_schemas. Every status a view
answers with is listed under its operation, with the error codes it can carry; the answers Django or our
middleware give before any view (a NUL in the address, a body over the limit) are in the description.
tests/accounts/test_openapi_contract.py validates the document and runs Schemathesis against a live server
with a real token, so a change to a view that the document does not follow fails there.

Served as JSON at /api/v1/openapi.json (always English) and as a page at /api/v1/docs (accounts.usage_api.docs),
which shows the prose in the reader's language.
"""

from django.conf import settings
from django.utils.translation import gettext as _

from .charges import MAX_BATCH
from .openapi_schemas import BODY_CODES, CHARGE_INPUT_CODES, ref, schemas, security_schemes

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
BASE_PATH = "/api/v1"
JSON = "application/json"
MB = 1024 * 1024


def error_response(description: str, codes: list[str], example: tuple[str, str], **extra) -> dict:
    """A JSON error answer whose `code` is one of `codes`."""
    schema = {
        "allOf": [
            ref("Error"),
            {"properties": {"error": {"properties": {"code": {"enum": codes}}}}},
        ]
    }
    code, message = example
    content = {JSON: {"schema": schema, "example": {"error": {"code": code, "message": message}}}}
    return {"description": description, "content": content, **extra}


def unauthorized() -> dict:
    return error_response(
        _("No valid service token: missing, unknown or revoked. Nothing was read or changed."),
        ["unauthorized"],
        ("unauthorized", _("Send a valid, unrevoked service token as 'Authorization: Bearer …'.")),
        headers={
            "WWW-Authenticate": {
                "required": True,
                "description": _("The scheme to use: Bearer."),
                "schema": {"type": "string", "const": 'Bearer realm="billing-center"'},
            }
        },
    )


def wrong_method(method: str) -> dict:
    return error_response(
        _("Any method other than %(method)s on this path. The Allow header names the one that works.")
        % {"method": method},
        ["method_not_allowed"],
        ("method_not_allowed", _("Use %(method)s here.") % {"method": method}),
        headers={"Allow": {"required": True, "schema": {"type": "string", "const": method}}},
    )


def json_body(schema_name: str, example) -> dict:
    return {"required": True, "content": {JSON: {"schema": ref(schema_name), "example": example}}}


def answer(description: str, schema: dict, example) -> dict:
    return {"description": description, "content": {JSON: {"schema": schema, "example": example}}}


def outcome(value: str) -> dict:
    return {"allOf": [ref("ChargePosted"), {"properties": {"outcome": {"const": value}}}]}


CHARGE_EXAMPLE = {
    "account": 42,
    "amount": "12.34",
    "currency": "USD",
    "idempotency_key": "ecs-2026-11-26T10",
    "description": "ecs.c6.large 1h",
}
POSTED_EXAMPLE = {
    "idempotency_key": "ecs-2026-11-26T10",
    "outcome": "created",
    "charge": {
        "id": 9001,
        "account": 42,
        "amount": "12.34",
        "currency": "USD",
        "description": "ecs.c6.large 1h",
        "balance_after": "87.66",
        "created_at": "2026-11-26T10:00:04+00:00",
    },
}


def post_charge() -> dict:
    return {
        "operationId": "postCharge",
        "tags": ["charges"],
        "summary": _("Debit one usage charge"),
        "description": _(
            "Posts the charge to the ledger once per idempotency key, under the account's row lock. The same key "
            'with the same body (amounts compared as numbers: "12.340" is "12.34") answers 200 with the charge '
            "the first call created, however often it is retried or raced; the same key with another body is a "
            "409. Balances may go below zero."
        ),
        "requestBody": json_body("ChargeRequest", CHARGE_EXAMPLE),
        "responses": {
            "201": answer(_("Created: the account was debited."), outcome("created"), POSTED_EXAMPLE),
            "200": answer(
                _("A repeat of an earlier call with this key: nothing new was debited; the first charge."),
                outcome("duplicate"),
                POSTED_EXAMPLE | {"outcome": "duplicate"},
            ),
            "400": error_response(
                _(
                    "The body is not a JSON object (sent as application/json) or a field is wrong, or the currency "
                    "is not the account's. Nothing was debited."
                ),
                [*BODY_CODES, *CHARGE_INPUT_CODES, "currency_mismatch"],
                (
                    "bad_amount",
                    "amount: "
                    + _("Enter the amount with at most %(places)s decimals, e.g. %(example)s.")
                    % {"places": 2, "example": _("100 or 99.50")},
                ),
            ),
            "401": unauthorized(),
            "404": error_response(
                _("There is no account with this id."),
                ["unknown_account"],
                ("unknown_account", _("There is no account %(account)s.") % {"account": 42}),
            ),
            "405": wrong_method("POST"),
            "409": error_response(
                _("This idempotency key was used with a different charge. Nothing was debited."),
                ["idempotency_key_reused"],
                ("idempotency_key_reused", _("This idempotency key was used with a different charge.")),
            ),
            "413": too_large(
                ["too_large"],
                ("too_large", _("The body is too large: send at most 1,000 charges per batch.")),
                batch=False,
            ),
        },
    }


def post_charge_batch() -> dict:
    limit = f"{MAX_BATCH:,}"
    return {
        "operationId": "postChargeBatch",
        "tags": ["charges"],
        "summary": _("Debit up to %(limit)s usage charges at once") % {"limit": limit},
        "description": _(
            "One transaction, one lock per account touched. Each charge is answered on its own, in the order "
            "sent: created, duplicate (its key was posted before, in an earlier call or earlier in this batch) or "
            "error with the same codes as a single charge. The call answers 200 whatever the mix."
        ),
        "requestBody": json_body(
            "ChargeBatchRequest",
            {"charges": [CHARGE_EXAMPLE, CHARGE_EXAMPLE | {"idempotency_key": "ecs-2026-11-26T11"}]},
        ),
        "responses": {
            "200": answer(
                _("Every charge answered; look at each result's outcome."),
                ref("ChargeBatchResult"),
                {
                    "results": [
                        POSTED_EXAMPLE,
                        {
                            "idempotency_key": "ecs-2026-11-26T11",
                            "outcome": "error",
                            "error": {"code": "currency_mismatch", "message": "Account 42 is billed in USD, not EUR."},
                        },
                    ],
                    "created": 1,
                    "duplicate": 0,
                    "error": 1,
                },
            ),
            "400": error_response(
                _("The body is not JSON, or not an object with a non-empty `charges` list. Nothing was debited."),
                BODY_CODES,
                ("bad_request", 'Send {"charges": [ ... ]} with at least one charge.'),
            ),
            "401": unauthorized(),
            "405": wrong_method("POST"),
            "413": too_large(
                ["batch_too_large", "too_large"],
                ("batch_too_large", f"A batch holds at most {MAX_BATCH} charges; this one has {MAX_BATCH + 1}."),
                batch=True,
            ),
        },
    }


def too_large(codes: list[str], example: tuple[str, str], *, batch: bool) -> dict:
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // MB
    if batch:
        description = _("More than %(limit)s charges, or a body over %(size)s MB. Nothing was debited.") % {
            "limit": f"{MAX_BATCH:,}",
            "size": size,
        }
    else:
        description = _("A body over %(size)s MB. Nothing was debited.") % {"size": size}
    return error_response(description, codes, example)


def account_balance() -> dict:
    return {
        "operationId": "getAccountBalance",
        "tags": ["accounts"],
        "summary": _("Read an account's balance"),
        "parameters": [
            {
                "name": "account_id",
                "in": "path",
                "required": True,
                "description": _("The account's id, in plain digits."),
                "schema": {"type": "integer", "format": "int64", "minimum": 0},
                "example": 42,
            }
        ],
        "responses": {
            "200": answer(
                _("The balance now."),
                ref("Balance"),
                {
                    "account": 42,
                    "balance": "-50.00",
                    "currency": "USD",
                    "in_arrears": True,
                    "as_of": "2026-11-26T10:00:05+00:00",
                },
            ),
            "401": unauthorized(),
            "404": error_response(
                _("There is no account with this id (unknown_account), or the id is not plain digits (not_found)."),
                ["unknown_account", "not_found"],
                ("unknown_account", _("There is no account %(account)s.") % {"account": 42}),
            ),
            "405": wrong_method("GET"),
        },
    }


def contract_operation(operation_id: str, summary: str, media_type: str, schema: dict | None) -> dict:
    """The two routes that serve this document: public, no token."""
    content = {media_type: {"schema": schema} if schema else {}}
    responses = {"200": {"description": summary, "content": content}, "405": wrong_method("GET")}
    return {
        "operationId": operation_id,
        "tags": ["contract"],
        "summary": summary,
        "security": [],
        "responses": responses,
    }


def document() -> dict:
    """The OpenAPI 3.1 document, with prose in the active language."""
    size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // MB
    openapi_json = contract_operation(
        "getOpenApiDocument",
        _("This document, as JSON"),
        JSON,
        {"type": "object", "required": ["openapi", "info", "paths"], "properties": {"openapi": {"const": "3.1.0"}}},
    )
    openapi_json["responses"]["200"]["headers"] = {
        "ETag": {"required": True, "schema": {"type": "string"}},
        "Cache-Control": {"required": True, "schema": {"type": "string"}},
    }
    openapi_json["parameters"] = [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}]
    openapi_json["responses"]["304"] = {"description": _("Not modified: the ETag sent is still current.")}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": _("Billing Center usage-charge API"),
            "version": API_VERSION,
            "summary": _("How the cloud's metering services debit usage from customers' balances."),
            "description": _(
                "JSON in and out, over HTTPS. Money is a decimal string in the currency's units with its ISO "
                '4217 code beside it ("12.34" USD), never a float. Every answer under %(base)s is JSON, errors '
                'included: `{"error": {"code": "…", "message": "…"}}` with a 4xx status; `code` is stable, '
                "`message` is for people. Before any endpoint, a request with a NUL character in its address is a "
                "400 (bad_request), a body over %(most)s MB is a 413 (too_large), and a path that names no "
                "endpoint is a 404 (not_found). The charge endpoints read at most %(size)s MB."
            )
            % {"base": BASE_PATH, "most": settings.MAX_REQUEST_BYTES // MB, "size": size},
        },
        "servers": [{"url": BASE_PATH}],
        "security": [{"serviceToken": []}],
        "tags": [
            {"name": "charges", "description": _("Usage charges, exactly once per idempotency key.")},
            {"name": "accounts", "description": _("Balances.")},
            {"name": "contract", "description": _("This document and its page.")},
        ],
        "paths": {
            "/charges": {"post": post_charge()},
            "/charges/batch": {"post": post_charge_batch()},
            "/accounts/{account_id}/balance": {"get": account_balance()},
            "/openapi.json": {"get": openapi_json},
            "/docs": {"get": contract_operation("getDocsPage", _("This document, as a page"), "text/html", None)},
        },
        "components": {"schemas": schemas(), "securitySchemes": security_schemes()},
    }
