"""Mobile numbers typed by people become E.164, or are refused with a message they can act on."""

import pytest

from accounts.phones import InvalidPhoneNumber, normalise_mobile
from billing_center.privacy import mask_phone


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("+86 138 0013 8000", "+8613800138000"),
        ("+8613800138000", "+8613800138000"),
        ("  +86 138-0013-8000  ", "+8613800138000"),
        ("+1 201 555 0123", "+12015550123"),  # FIXED_LINE_OR_MOBILE: US numbers do not say which
        ("+1 (201) 555-0123", "+12015550123"),
        ("+1.201.555.0123", "+12015550123"),
        ("+44 7400 123456", "+447400123456"),
        ("+44 (0)7400 123456", "+447400123456"),  # the UK habit of writing the trunk 0
        ("+49 1512 3456789", "+4915123456789"),
    ],
)
def test_mobile_numbers_in_international_form_are_normalised_to_e164(typed, e164):
    assert normalise_mobile(typed) == e164


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter a mobile number"),
        ("   ", "Enter a mobile number"),
        ("+", "Enter a mobile number"),
        ("138 0013 8000", "Add your country code"),
        ("07400 123456", "Add your country code"),
        ("10086", "Add your country code"),
        ("0086 138 0013 8000", "instead of the leading 00"),
        ("+86 138 ABCD 8000", "only digits"),
        ("+1 800 FLOWERS", "only digits"),
        ("+86 138 0013 8000\nBcc: x", "only digits"),
        ("+86 138 0013 8000\r\n", "only digits"),
        ("\r\n", "only digits"),
        ("+86\t138 0013 8000", "only digits"),
        ("+86 138 0013 8000 ext 12", "only digits"),
        ("+86 138 0013 8000;ext=12", "only digits"),
        ("+86\u00a0138 0013 8000", "only digits"),
        ("+８６ １３８ ００１３ ８０００", "only digits"),
        ("++86 138 0013 8000", "only once"),
        ("+86 138 0013 8000 +1", "only once"),
        ("+86 1380 0138 0001 23", "at most 15 digits"),
        ("+1234567890123456789", "at most 15 digits"),
        ("+999 1234 5678", "known country code"),
        ("+44 909 8790879", "Premium-rate"),
        ("+1 900 555 0123", "Premium-rate"),
        ("+1 800 555 0123", "Toll-free"),
        ("+44 800 123 4567", "Toll-free"),
        ("+44 20 7946 0958", "landline"),
        ("+86 10 1234 5678", "landline"),
        ("+86 400 123 4567", "Shared-cost"),
        ("+44 5612 345678", "VoIP"),
        ("+44 70 1234 5678", "Personal"),
        ("+44 7640 123456", "Pager"),
        ("+44 55 1234 5678", "UAN"),
        ("+86 10086", "Short codes"),
        ("+1 12345", "Short codes"),
        ("+86 138", "too short"),
        ("+44 7400 1234567", "too long"),
        ("+44 7700 900123", "not a valid phone number for country code +44"),
    ],
)
def test_refused_numbers_say_why(typed, message):
    with pytest.raises(InvalidPhoneNumber) as refused:
        normalise_mobile(typed)
    assert message in str(refused.value)


def test_a_refusal_is_a_value_error_so_form_code_can_catch_either():
    with pytest.raises(ValueError):
        normalise_mobile("138 0013 8000")


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+8613800138000", "+86 **** 8000"),
        ("+12015550123", "+1 **** 0123"),
        ("+447400123456", "+44 **** 3456"),
        ("+4915123456789", "+49 **** 6789"),
        ("+8610086", "+86 ****"),
        ("+3545551234", "+354 **** 1234"),
        ("+86 138 0013 8000", "****"),
        ("13800138000", "****"),
        ("+9991234567", "****"),
        ("", "****"),
    ],
)
def test_mask_keeps_only_the_country_code_and_the_last_four_digits(e164, masked):
    assert mask_phone(e164) == masked
