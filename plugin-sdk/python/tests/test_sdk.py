import pathlib

import pytest

from krog_plugin import Booking, PluginError, deliver, deliver_json, log, plugin, skip
from krog_plugin.testing import PluginFailed, run

FIXTURES = pathlib.Path(__file__).resolve().parents[3] / "fixtures"


@plugin(name="echo", description="Echoes the client.")
def echo(event, config):
    log.info(f"booking {event.booking.id}")
    if config.get("fail") == "error":
        {}["missing"]
    if config.get("fail") == "plugin":
        raise PluginError("set `list` in the config")
    if config.get("fail") == "nothing":
        return None
    if event.type == "booking.deleted":
        return skip("deleted")
    return deliver_json({"client": event.booking.client_name, "extra": event.booking.extra})


def test_a_booking_keeps_the_fields_krog_does_not_know_in_extra():
    booking = Booking.from_dict(
        {"id": "bk_1", "colour": "blue", "client": {"name": "Jens", "vip": True}, "start": 5}
    )
    assert booking.extra == {"colour": "blue", "start": 5}
    assert booking.start is None
    assert booking.client.extra == {"vip": True}


def test_an_online_location_is_told_apart_from_an_address():
    online = Booking.from_dict({"id": "b", "location": {"type": "online", "url": "https://m/1"}})
    assert online.location.online and online.location.display() == "https://m/1"
    place = Booking.from_dict({"id": "b", "location": {"name": "K", "address": "A 1"}})
    assert not place.location.online and place.location.display() == "K, A 1"


def test_a_booking_without_an_id_is_refused():
    with pytest.raises(ValueError, match="no string `id`"):
        Booking.from_dict({"status": "x"})


def test_the_fixtures_run_through_the_same_path_as_the_component():
    out = run(echo, FIXTURES / "booking-created.json")
    assert out.content_type == "application/json"
    assert out.json()["client"] == "Jens Ødegård"
    assert out.logs == [("info", "booking bk_1042")]
    assert run(echo, str(FIXTURES / "booking-deleted.json")) == skip("deleted")


def test_an_exception_becomes_the_plugins_error_with_type_message_and_traceback():
    with pytest.raises(PluginFailed) as failed:
        run(echo, FIXTURES / "booking-created.json", {"fail": "error"})
    message = str(failed.value)
    assert message.startswith("KeyError: 'missing'\nTraceback (most recent call last):")
    assert 'test_sdk.py", line' in message and "in echo" in message
    assert failed.value.logs == [("info", "booking bk_1042")]


def test_a_plugin_error_is_the_message_alone():
    with pytest.raises(PluginFailed, match=r"^set `list` in the config$"):
        run(echo, FIXTURES / "booking-created.json", {"fail": "plugin"})


def test_returning_nothing_names_the_helpers_to_return():
    with pytest.raises(PluginFailed, match="return deliver"):
        run(echo, FIXTURES / "booking-created.json", {"fail": "nothing"})


def test_config_that_is_not_json_is_the_plugins_error():
    with pytest.raises(PluginFailed, match="the config is not valid JSON"):
        run(echo, FIXTURES / "booking-created.json", "{nope")


def test_deliver_sends_text_as_utf8():
    assert deliver("Ødegård").body == "Ødegård".encode()
    assert deliver("x").content_type == "text/plain; charset=utf-8"


def test_info_gives_the_schema_as_json_text():
    assert echo.info() == ("echo", "0.1.0", "Echoes the client.", "{}")
