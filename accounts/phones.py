"""Mobile numbers typed by people, checked before we promise to send them SMS alerts.

Alerts go out by SMS only, so a number is accepted only when `phonenumbers` can tell it is
a mobile (or, as in the US and Canada, a number that may be a mobile). We insist on the
international form because a national number ("138 0013 8000") means different lines in
different countries, and guessing the country from a browser or an IP sends someone
else's alerts to a stranger.
"""

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult, shortnumberinfo

ALLOWED_CHARACTERS = frozenset("0123456789 -.()+")
MAX_DIGITS = 15  # ITU-T E.164, country code included
EXAMPLE = "+86 138 0013 8000"

ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
REFUSED_TYPES = {
    PhoneNumberType.FIXED_LINE: "This is a landline number, and landlines cannot receive text messages. "
    "Enter a mobile number.",
    PhoneNumberType.PREMIUM_RATE: "Premium-rate numbers cannot receive alerts. Enter a mobile number.",
    PhoneNumberType.TOLL_FREE: "Toll-free numbers cannot receive alerts. Enter a mobile number.",
    PhoneNumberType.SHARED_COST: "Shared-cost numbers cannot receive alerts. Enter a mobile number.",
    PhoneNumberType.VOIP: "Internet (VoIP) numbers cannot receive alerts. Enter a mobile number.",
    PhoneNumberType.PERSONAL_NUMBER: "Personal (forwarding) numbers cannot receive alerts. "
    "Enter the mobile number itself.",
    PhoneNumberType.PAGER: "Pager numbers cannot receive alerts. Enter a mobile number.",
    PhoneNumberType.UAN: "Company (UAN) numbers cannot receive alerts. Enter a mobile number.",
    PhoneNumberType.VOICEMAIL: "Voicemail numbers cannot receive alerts. Enter a mobile number.",
}
UNKNOWN_TYPE = "We cannot tell whether this number is a mobile. Enter a mobile number."


class InvalidPhoneNumber(ValueError):
    """A number we will not send alerts to; `str(exc)` is written for the person who typed it."""


def normalise_mobile(text: str) -> str:
    """E.164 for a mobile number typed by a person, or InvalidPhoneNumber with a clear message.

    Characters are checked before `phonenumbers` sees the text, because its parser is lenient
    on purpose (it reads letters as keypad digits, "ext. 12" as an extension and skips
    surrounding junk), and a stored number must be exactly what the person meant.
    """
    stripped = text.strip(" ")
    if not stripped:
        raise InvalidPhoneNumber(f"Enter a mobile number with its country code, for example {EXAMPLE}.")
    if not set(stripped) <= ALLOWED_CHARACTERS:
        raise InvalidPhoneNumber(
            "A phone number may contain only digits, spaces, dashes, dots, parentheses and one leading +."
        )
    if "+" in stripped[1:]:
        raise InvalidPhoneNumber(f"Write + only once, at the start of the number, for example {EXAMPLE}.")
    digits = "".join(c for c in stripped if c.isdigit())
    if not digits:
        raise InvalidPhoneNumber(f"Enter a mobile number with its country code, for example {EXAMPLE}.")
    if not stripped.startswith("+"):
        if digits.startswith("00"):
            raise InvalidPhoneNumber(f"Write + instead of the leading 00, for example {EXAMPLE}.")
        raise InvalidPhoneNumber(
            f"Add your country code, starting with +, for example {EXAMPLE} for China or +44 7400 123456 for the UK."
        )
    if len(digits) > MAX_DIGITS:
        raise InvalidPhoneNumber(f"A phone number has at most {MAX_DIGITS} digits, including the country code.")

    try:
        number = phonenumbers.parse(f"+{digits}", None)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidPhoneNumber("The number does not start with a known country code.") from None
        raise InvalidPhoneNumber("This number is too short to be a mobile number.") from None

    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(_why_invalid(number))
    if phonenumbers.region_code_for_number(number) in NON_GEOGRAPHIC_REGIONS:
        # Satellite and international networks (+881, +882, +883, +870…): expensive to text
        # and the favourite of SMS-pumping fraud; no customer needs alerts there.
        raise InvalidPhoneNumber("Satellite and international network numbers cannot receive alerts.")
    number_type = phonenumbers.number_type(number)
    if number_type not in ACCEPTED_TYPES:
        raise InvalidPhoneNumber(REFUSED_TYPES.get(number_type, UNKNOWN_TYPE))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


NON_GEOGRAPHIC_REGIONS = {"001", None, "ZZ"}


def _why_invalid(number: phonenumbers.PhoneNumber) -> str:
    if shortnumberinfo.is_valid_short_number(number):
        return "Short codes (service numbers such as 10086) cannot receive alerts. Enter a mobile number."
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        return "The number does not start with a known country code."
    if reason == ValidationResult.TOO_SHORT:
        return f"This number is too short to be a mobile number with country code +{number.country_code}."
    if reason == ValidationResult.TOO_LONG:
        return f"This number is too long to be a mobile number with country code +{number.country_code}."
    return f"This is not a valid phone number for country code +{number.country_code}; check the digits."
