"""Personal payment references: ISO 11649 "RF" creditor references, one per account.

The customer puts it in the transfer's remark; its two check digits catch a mistyped
reference before finance has to guess whose money arrived.
"""

from django.utils.translation import gettext as _
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10


def payment_reference(account_id: int) -> str:
    """RF + check digits + "BC" + the account id: stable, and readable on a bank statement."""
    body = f"BC{account_id:08d}"
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def formatted(reference: str) -> str:
    """Grouped in fours, as banks print it."""
    return iso11649.format(reference)


def parse_payment_reference(text: str) -> str:
    """The compact reference if `text` is a valid RF reference; ValueError with a message otherwise."""
    try:
        return iso11649.validate(text)
    except iso11649.ValidationError as exc:
        raise ValueError(
            _(
                "This payment reference is mistyped: its check digits do not match. Copy it from the Bank Transfer "
                "page (it starts with RF), or leave it empty."
            )
        ) from exc
