"""What of a person's phone number may show in logs and on pages."""

import phonenumbers
from phonenumbers import NumberParseException

from money.parsing import is_digits


def mask_phone(e164: str) -> str:
    """ "+86 **** 8000": enough for a person to recognise their number, too little to reach them.

    Keeps only the country code and the last four digits. Anything that is not an E.164
    number is masked entirely, and so is a number too short to hide at least three digits
    (a short code), because this runs on values headed for logs and pages.
    """
    if not (e164.startswith("+") and is_digits(e164[1:])):
        return "****"
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "****"
    national = phonenumbers.national_significant_number(number)
    if len(national) < 7:
        return f"+{number.country_code} ****"
    return f"+{number.country_code} **** {national[-4:]}"
