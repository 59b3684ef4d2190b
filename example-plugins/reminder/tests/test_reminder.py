import json
import pathlib

import pytest

from krog_plugin import skip
from krog_plugin.testing import PluginFailed, run
from reminder import phone_number, segments, transform

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "fixtures"


def fixture(name):
    return FIXTURES / f"{name}.json"


def test_a_new_booking_is_a_danish_reminder_a_day_before():
    out = run(transform, fixture("booking-created")).json()
    assert out["to"] == "+4520123456"
    assert out["text"] == (
        "Hej Jens, husk din tid til Parterapi hos Mette Søndergaard tor. 3. dec kl. 14:00, "
        "Klinik Nørrebro, Nørrebrogade 52, 2200 København N. - Klinik Nørrebro"
    )
    assert out["send_at"] == "2026-12-02T14:00:00+01:00"
    assert (out["kind"], out["booking_id"], out["encoding"]) == ("reminder", "bk_1042", "GSM-7")
    assert out["segments"] == 1


def test_the_hours_before_and_the_clinic_name_come_from_the_config():
    out = run(transform, fixture("booking-created"), {"hours_before": 2, "clinic_name": "KN", "locale": "en"}).json()
    assert out["send_at"] == "2026-12-03T12:00:00+01:00"
    assert out["text"].startswith("Hi Jens, a reminder of your Parterapi appointment with Mette Søndergaard on Thu 3 Dec at 14:00")
    assert out["text"].endswith(" - KN")


def test_a_moved_booking_says_the_new_time_now_and_when_to_remind():
    out = run(transform, fixture("booking-updated")).json()
    assert out["kind"] == "moved" and out["send_at"] is None
    assert "er flyttet til fre. 4. dec kl. 10:00" in out["text"]
    assert out["reminder_at"] == "2026-12-03T10:00:00+01:00"


def test_an_update_that_keeps_the_time_is_skipped():
    envelope = json.loads(fixture("booking-updated").read_text())
    envelope["data"]["changes"] = {"notes": {"from": "a", "to": "b"}}
    assert run(transform, envelope) == skip("the appointment's time did not change")


def test_a_cancellation_is_confirmed_unless_the_config_says_not_to():
    out = run(transform, fixture("booking-deleted"), {"locale": "de"}).json()
    assert out["text"].startswith("Hallo Jens, Ihr Termin (Parterapi) am Fr. 4. Dez um 10:00 ist abgesagt.")
    assert run(transform, fixture("booking-deleted"), {"confirm_cancellations": False}).reason.startswith(
        "cancellations are not confirmed"
    )


def test_an_online_booking_carries_the_link():
    envelope = json.loads(fixture("booking-created-online").read_text())
    envelope["data"]["client"]["phone"] = "+45 11 22 33 44"
    out = run(transform, envelope, {"locale": "en"}).json()
    assert "(online: https://meet.example.com/r/9f3a)" in out["text"]


def test_a_client_without_a_phone_is_skipped():
    envelope = json.loads(fixture("booking-created").read_text())
    del envelope["data"]["client"]["phone"]
    assert run(transform, envelope) == skip("the client has no phone number")


def test_a_text_over_max_segments_drops_the_place_then_the_therapist():
    one = run(transform, fixture("booking-created"), {"max_segments": 1, "clinic_name": "K"}).json()
    assert one["segments"] == 1
    envelope = json.loads(fixture("booking-created").read_text())
    envelope["data"]["location"]["address"] = "x" * 200
    cut = run(transform, envelope, {"max_segments": 1, "clinic_name": "K"}).json()
    assert "xxx" not in cut["text"] and "Mette" in cut["text"]


def test_a_start_without_an_offset_is_an_error_that_says_so():
    envelope = json.loads(fixture("booking-created").read_text())
    envelope["data"]["start"] = "2026-12-03T14:00:00"
    with pytest.raises(PluginFailed, match="has no UTC offset"):
        run(transform, envelope)


def test_sms_parts_are_counted_as_phones_count_them():
    assert segments("æøå ÆØÅ" * 20) == ("GSM-7", 1)
    assert segments("a" * 161) == ("GSM-7", 2)
    assert segments("€" * 80) == ("GSM-7", 1)
    assert segments("€" * 81) == ("GSM-7", 2)
    assert segments("ł" * 70) == ("UCS-2", 1)
    assert segments("ł" * 71) == ("UCS-2", 2)


def test_phone_numbers_are_normalised():
    assert phone_number("+45 20 12 34 56") == "+4520123456"
    assert phone_number("0045 20 12 34 56") == "+4520123456"
    assert phone_number("20-12-34-56") == "20123456"
    assert phone_number("12") is None
