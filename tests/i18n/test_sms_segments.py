"""SMS segments as networks bill them: GSM-7 160 alone / 153 each when split, UCS-2 (every
Chinese text) 70 / 67, counted in UTF-16 units; a long text is cut at a segment's edge, never in
the middle of a character, before it is queued."""

import pytest
from django.utils import timezone

from accounts.models import OutboundSms
from accounts.notifications import queue_sms
from accounts.sms.segments import MAX_SEGMENTS, count_segments, fit_segments


@pytest.mark.parametrize(
    "text, encoding, count",
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # an extension character takes two places
        ("€" * 81, "GSM-7", 2),
        ("余" * 70, "UCS-2", 1),
        ("余" * 71, "UCS-2", 2),
        ("余" * 134, "UCS-2", 2),
        ("余" * 135, "UCS-2", 3),
        ("a" * 69 + "é", "GSM-7", 1),  # é is in the GSM alphabet
        ("a" * 69 + "ł", "UCS-2", 1),  # ł is not: the whole text becomes UCS-2
        ("a" * 70 + "ł", "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),  # a surrogate pair takes two units
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_segments_are_counted_as_networks_bill_them(text, encoding, count):
    segments = count_segments(text)
    assert (segments.encoding, segments.count) == (encoding, count)


def test_a_chinese_text_that_fits_one_segment_is_one_segment():
    text = "计费中心：测试账号 的余额为 US$120.00，已低于预警阈值 US$150.00。"
    assert len(text) <= 70
    assert count_segments(text).count == 1
    assert fit_segments(text) == text


def test_a_long_chinese_text_is_cut_at_the_last_segments_edge():
    text = "余额" * 200
    cut = fit_segments(text)
    assert cut.endswith("…")
    assert count_segments(cut).count == MAX_SEGMENTS
    assert count_segments(cut).units == 67 * MAX_SEGMENTS  # filled exactly, no part wasted
    assert text.startswith(cut[:-1])


def test_a_long_english_text_stays_gsm7_when_cut():
    cut = fit_segments("Billing Center " * 60)
    assert cut.endswith("...")
    assert count_segments(cut).encoding == "GSM-7"
    assert count_segments(cut).count == MAX_SEGMENTS


def test_a_cut_never_splits_a_surrogate_pair():
    cut = fit_segments("😀" * 200)
    assert count_segments(cut).count <= MAX_SEGMENTS
    assert cut.encode("utf-16-le").decode("utf-16-le") == cut


def test_one_segment_is_70_or_160_not_the_split_size():
    assert fit_segments("余" * 71, max_segments=1) == "余" * 69 + "…"
    assert count_segments(fit_segments("a" * 200, max_segments=1)).count == 1


@pytest.mark.django_db
def test_queued_sms_are_cut_to_their_segments():
    sms = queue_sms(dedupe_key=f"seg:{timezone.now().timestamp()}", to="+8613800138000", text="余额" * 300)
    stored = OutboundSms.objects.get(pk=sms.pk).text
    assert count_segments(stored).count == MAX_SEGMENTS and stored.endswith("…")
