"""The usage-charge API's data shapes: the `components` of its OpenAPI document (accounts.usage_api.openapi).

Written by hand from the views and proved against them: tests/accounts/test_openapi_contract.py runs
Schemathesis on a live server, which checks every answer against these schemas. The limits are read from
the code that enforces them (the key's pattern, the largest charge, the batch size), never copied.
Prose goes through gettext: the docs page shows it in the reader's language; the JSON is built in English.
"""

from django.conf import settings
from django.utils.translation import gettext as _

from money.formatting import minor_places
from money.parsing import LARGEST_ID

from .charges import KEY, LARGEST_CHARGE, MAX_BATCH

# Every code each kind of answer can carry; the responses in openapi.py pick theirs from these.
CHARGE_INPUT_CODES = ["bad_idempotency_key", "bad_account", "bad_currency", "bad_amount", "bad_description"]
BODY_CODES = ["bad_request", "bad_json"]
ITEM_ERROR_CODES = [
    "bad_request",
    *CHARGE_INPUT_CODES,
    "currency_mismatch",
    "unknown_account",
    "idempotency_key_reused",
]

DECIMAL = r"^[0-9]+(\.[0-9]+)?$"
SIGNED_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
# What a client sends: more than zero, up to LARGEST_CHARGE (1,000,000,000), at most two decimals, no leading
# zeros. The server reads a little more ("012", "12.340"); a currency without decimals (JPY) takes whole numbers.
POSITIVE_AMOUNT = r"^(?:[1-9][0-9]{0,8}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?)|1000000000(?:\.00?)?)$"
WHOLE_AMOUNT = r"^(?:[1-9][0-9]{0,8}|1000000000)$"  # a currency without a minor unit (JPY)


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def money_fields() -> dict:
    return {
        "amount": {
            "type": "string",
            "pattern": DECIMAL,
            "description": _('A decimal string in the currency\'s units, never a float: "12.34", "1200" (JPY).'),
            "examples": ["12.34"],
        },
        "currency": currency(),
    }


def currency() -> dict:
    return {
        "type": "string",
        "enum": list(settings.CURRENCIES),
        "description": _("ISO 4217 code. A charge must be in the account's billing currency."),
    }


def whole_currencies() -> list[str]:
    return [code for code in settings.CURRENCIES if minor_places(code) == 0]


def whole_amounts_rule() -> dict:
    """In a currency without a minor unit, the amount is a whole number: JSON Schema's if/then says so."""
    whole = whole_currencies()
    if not whole:
        return {}
    rule = {
        "if": {"required": ["currency"], "properties": {"currency": {"enum": whole}}},
        "then": {"properties": {"amount": {"pattern": WHOLE_AMOUNT}}},
    }
    return {"allOf": [rule]}


def schemas() -> dict:
    largest = f"{LARGEST_CHARGE:,}"
    whole = ", ".join(whole_currencies()) or "-"
    return {
        "Error": {
            "type": "object",
            "description": _(
                "Every refusal, whatever the status. `code` is stable: program against it. `message` is for "
                "people and may change."
            ),
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {"type": "string", "pattern": "^[a-z_]+$", "description": _("Stable, for programs.")},
                        "message": {"type": "string", "minLength": 1, "description": _("For people.")},
                    },
                }
            },
        },
        "ChargeRequest": {
            "type": "object",
            "description": _("One usage charge: a debit from an account's balance, exactly once per key."),
            "required": ["account", "amount", "currency", "idempotency_key"],
            **whole_amounts_rule(),
            "properties": {
                "account": {
                    "type": "integer",
                    "format": "int64",
                    "minimum": 1,
                    "maximum": LARGEST_ID,
                    "description": _("The id of the account to charge (a string of plain digits is read too)."),
                    "examples": [42],
                },
                "amount": {
                    "type": "string",
                    "pattern": POSITIVE_AMOUNT,
                    "description": _(
                        "More than zero and at most %(largest)s, with no more decimals than the currency has (none "
                        "for %(whole)s). A string in plain digits; a JSON number in plain digits (12.34, not 1.234e1) "
                        "is read exactly too, never as a float."
                    )
                    % {"largest": largest, "whole": whole},
                    "examples": ["12.34"],
                },
                "currency": currency(),
                "idempotency_key": {
                    "type": "string",
                    "pattern": f"^{KEY.pattern}$",
                    "description": _(
                        "Yours to choose, unique per charge, e.g. the metering window. Scoped to the service the "
                        "token belongs to and kept for good: the same key and body again answer with the first "
                        "charge; the same key with another account, amount, currency or description is a 409."
                    ),
                    "examples": ["ecs-2026-11-26T10"],
                },
                "description": {
                    "type": "string",
                    "maxLength": 300,
                    "default": "",
                    "description": _("Shown on the customer's statement. Control characters are dropped."),
                    "examples": ["ecs.c6.large 1h"],
                },
            },
        },
        "ChargeBatchRequest": {
            "type": "object",
            "description": _(
                "Up to %(limit)s charges, posted in one transaction. Each is answered on its own, so one bad "
                "charge does not stop the others."
            )
            % {"limit": f"{MAX_BATCH:,}"},
            "required": ["charges"],
            "properties": {
                "charges": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": ref("ChargeRequest")}
            },
        },
        "Charge": {
            "type": "object",
            "description": _("A usage charge as posted to the ledger."),
            "required": ["id", "account", "amount", "currency", "description", "balance_after", "created_at"],
            "additionalProperties": False,
            "properties": {
                "id": {"type": "integer", "description": _("The charge's id.")},
                "account": {"type": "integer", "description": _("The account charged.")},
                **money_fields(),
                "description": {"type": "string", "maxLength": 300},
                "balance_after": {
                    "type": "string",
                    "pattern": SIGNED_DECIMAL,
                    "description": _("The account's balance right after this charge; below zero is arrears."),
                },
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "ChargePosted": {
            "type": "object",
            "description": _("A charge the request created, or the one an earlier request with its key created."),
            "required": ["idempotency_key", "outcome", "charge"],
            "additionalProperties": False,
            "properties": {
                "idempotency_key": {"type": "string", "pattern": f"^{KEY.pattern}$"},
                "outcome": {"type": "string", "enum": ["created", "duplicate"]},
                "charge": ref("Charge"),
            },
        },
        "ChargeRefused": {
            "type": "object",
            "description": _("A charge of a batch that was refused; nothing was debited for it."),
            "required": ["idempotency_key", "outcome", "error"],
            "additionalProperties": False,
            "properties": {
                "idempotency_key": {
                    "type": "string",
                    "maxLength": 100,
                    "description": _("As sent, or empty when it was missing or not text."),
                },
                "outcome": {"const": "error"},
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "code": {"type": "string", "enum": ITEM_ERROR_CODES},
                        "message": {"type": "string", "minLength": 1},
                    },
                },
            },
        },
        "ChargeBatchResult": {
            "type": "object",
            "description": _("One result per charge, in the order sent, and how many of each outcome."),
            "required": ["results", "created", "duplicate", "error"],
            "additionalProperties": False,
            "properties": {
                "results": {
                    "type": "array",
                    "maxItems": MAX_BATCH,
                    "items": {"oneOf": [ref("ChargePosted"), ref("ChargeRefused")]},
                },
                "created": {"type": "integer", "minimum": 0},
                "duplicate": {"type": "integer", "minimum": 0},
                "error": {"type": "integer", "minimum": 0},
            },
        },
        "Balance": {
            "type": "object",
            "description": _("An account's balance now."),
            "required": ["account", "balance", "currency", "in_arrears", "as_of"],
            "additionalProperties": False,
            "properties": {
                "account": {"type": "integer"},
                "balance": {"type": "string", "pattern": SIGNED_DECIMAL, "examples": ["-50.00"]},
                "currency": currency(),
                "in_arrears": {"type": "boolean", "description": _("True when the balance is below zero.")},
                "as_of": {"type": "string", "format": "date-time"},
            },
        },
    }


def security_schemes() -> dict:
    return {
        "serviceToken": {
            "type": "http",
            "scheme": "bearer",
            "description": _(
                "A service token (`bc_…`) that an operator creates in admin under Service tokens, shown once; "
                "only its SHA-256 is stored. Send it as `Authorization: Bearer <token>`. A missing, unknown or "
                "revoked token is a 401 before anything else is read. Idempotency keys belong to the token's "
                "service."
            ),
        }
    }
