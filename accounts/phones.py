"""Mobile numbers typed by people, checked before we promise to send them SMS alerts.

Alerts go out by SMS only, so a number is accepted only when `phonenumbers` can tell it is
a mobile (or, as in the US and Canada, a number that may be a mobile). We insist on the
international form because a national number ("138 0013 8000") means different lines in
different countries, and guessing the country from a browser or an IP sends someone
else's alerts to a stranger.
"""

import phonenumbers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult, shortnumberinfo

ALLOWED_CHARACTERS = frozenset("0123456789 -.()+")
MAX_DIGITS = 15  # ITU-T E.164, country code included
EXAMPLE = "+86 138 0013 8000"
EXAMPLES = {"example": EXAMPLE}

ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
REFUSED_TYPES = {
    PhoneNumberType.FIXED_LINE: gettext_lazy(
        "This is a landline number, and landlines cannot receive text messages. Enter a mobile number."
    ),
    PhoneNumberType.PREMIUM_RATE: gettext_lazy("Premium-rate numbers cannot receive alerts. Enter a mobile number."),
    PhoneNumberType.TOLL_FREE: gettext_lazy("Toll-free numbers cannot receive alerts. Enter a mobile number."),
    PhoneNumberType.SHARED_COST: gettext_lazy("Shared-cost numbers cannot receive alerts. Enter a mobile number."),
    PhoneNumberType.VOIP: gettext_lazy("Internet (VoIP) numbers cannot receive alerts. Enter a mobile number."),
    PhoneNumberType.PERSONAL_NUMBER: gettext_lazy(
        "Personal (forwarding) numbers cannot receive alerts. Enter the mobile number itself."
    ),
    PhoneNumberType.PAGER: gettext_lazy("Pager numbers cannot receive alerts. Enter a mobile number."),
    PhoneNumberType.UAN: gettext_lazy("Company (UAN) numbers cannot receive alerts. Enter a mobile number."),
    PhoneNumberType.VOICEMAIL: gettext_lazy("Voicemail numbers cannot receive alerts. Enter a mobile number."),
}
UNKNOWN_TYPE = gettext_lazy("We cannot tell whether this number is a mobile. Enter a mobile number.")


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
        raise InvalidPhoneNumber(_("Enter a mobile number with its country code, for example %(example)s.") % EXAMPLES)
    if not set(stripped) <= ALLOWED_CHARACTERS:
        raise InvalidPhoneNumber(
            _("A phone number may contain only digits, spaces, dashes, dots, parentheses and one leading +.")
        )
    if "+" in stripped[1:]:
        raise InvalidPhoneNumber(
            _("Write + only once, at the start of the number, for example %(example)s.") % EXAMPLES
        )
    digits = "".join(c for c in stripped if c.isdigit())
    if not digits:
        raise InvalidPhoneNumber(_("Enter a mobile number with its country code, for example %(example)s.") % EXAMPLES)
    if not stripped.startswith("+"):
        if digits.startswith("00"):
            raise InvalidPhoneNumber(_("Write + instead of the leading 00, for example %(example)s.") % EXAMPLES)
        raise InvalidPhoneNumber(
            _(
                "Add your country code, starting with +, for example %(example)s for China "
                "or +44 7400 123456 for the UK."
            )
            % EXAMPLES
        )
    if len(digits) > MAX_DIGITS:
        raise InvalidPhoneNumber(
            _("A phone number has at most %(digits)s digits, including the country code.") % {"digits": MAX_DIGITS}
        )

    try:
        number = phonenumbers.parse(f"+{digits}", None)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidPhoneNumber(_("The number does not start with a known country code.")) from None
        raise InvalidPhoneNumber(_("This number is too short to be a mobile number.")) from None

    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(_why_invalid(number))
    if phonenumbers.region_code_for_number(number) in NON_GEOGRAPHIC_REGIONS:
        # Satellite and international networks (+881, +882, +883, +870…): expensive to text
        # and the favourite of SMS-pumping fraud; no customer needs alerts there.
        raise InvalidPhoneNumber(_("Satellite and international network numbers cannot receive alerts."))
    number_type = phonenumbers.number_type(number)
    if number_type not in ACCEPTED_TYPES:
        raise InvalidPhoneNumber(str(REFUSED_TYPES.get(number_type, UNKNOWN_TYPE)))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


NON_GEOGRAPHIC_REGIONS = {"001", None, "ZZ"}


def _why_invalid(number: phonenumbers.PhoneNumber) -> str:
    if shortnumberinfo.is_valid_short_number(number):
        return _("Short codes (service numbers such as 10086) cannot receive alerts. Enter a mobile number.")
    code = {"code": number.country_code}
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        return _("The number does not start with a known country code.")
    if reason == ValidationResult.TOO_SHORT:
        return _("This number is too short to be a mobile number with country code +%(code)s.") % code
    if reason == ValidationResult.TOO_LONG:
        return _("This number is too long to be a mobile number with country code +%(code)s.") % code
    return _("This is not a valid phone number for country code +%(code)s; check the digits.") % code
