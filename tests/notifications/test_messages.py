from datetime import UTC, date, datetime

import pytest
from django.utils import timezone

from clinics.dates import format_day, format_moment, format_time
from notifications import messages
from notifications.messages import count_segments
from tests.fakes.twilio_api import count_segments as fake_twilio_segments


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "gsm7", 1),
        ("a" * 161, "gsm7", 2),
        ("a" * 306, "gsm7", 2),
        ("a" * 307, "gsm7", 3),
        ("{" * 80, "gsm7", 1),  # extension characters take two septets
        ("{" * 81, "gsm7", 2),
        ("ก" * 70, "ucs2", 1),
        ("ก" * 71, "ucs2", 2),
        ("ก" * 134, "ucs2", 2),
        ("ก" * 135, "ucs2", 3),
        ("a" * 69 + "😀", "ucs2", 2),  # an emoji is two UTF-16 units
        ("a" * 152 + "€" + "a" * 152, "gsm7", 3),  # "€" would straddle segments 1 and 2
        ("a" * 66 + "😀" + "a" * 66, "ucs2", 3),
        ("Thai ไทย mixed", "ucs2", 1),
    ],
)
def test_segments_are_counted_by_encoding(text, encoding, segments):
    count = count_segments(text)

    assert (count.encoding, count.segments) == (encoding, segments)
    assert count.segments == fake_twilio_segments(text)  # counted independently


def test_thai_dates_use_the_buddhist_era_and_bangkok_time():
    moment = datetime(2026, 11, 22, 3, 30, tzinfo=UTC)

    assert format_day(date(2026, 11, 22), "th") == "อา. 22 พ.ย. 2569"
    assert format_day(date(2026, 11, 22), "en") == "Sun 22 Nov 2026"
    assert format_moment(moment, "th") == "อา. 22 พ.ย. 2569 10:30 น."
    assert format_moment(moment, "en") == "Sun 22 Nov 2026, 10:30"


def test_texts_are_in_bangkok_time_whichever_time_zone_is_current():
    moment = datetime(2026, 11, 22, 3, 30, tzinfo=UTC)

    with timezone.override("Europe/London"):
        assert format_moment(moment, "en") == "Sun 22 Nov 2026, 10:30"
        assert format_time(moment, "th") == "10:30 น."


def test_passcode_messages_carry_the_code_in_either_language():
    assert "123456" in messages.passcode("123456", 5, "th")
    assert "5 minutes" in messages.passcode("123456", 5, "en")
    assert count_segments(messages.passcode("123456", 5, "th")).segments <= 2


@pytest.mark.parametrize("language", ["th", "en"])
def test_phone_codes_and_the_sign_in_notice_fit_one_segment(language):
    for text in (
        messages.phone_proof_code("123456", 10, language),
        messages.new_phone_code("123456", 10, language),
        messages.sign_in_phone_changed(language),
    ):
        assert count_segments(text).segments == 1, text
