import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

from krog_plugin import Booking, Deliver, PluginError, deliver, deliver_json, log, plugin, skip
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


def _failure_of(transform) -> str:
    wrapped = plugin(name="failing")(transform)
    with pytest.raises(PluginFailed) as failed:
        run(wrapped, FIXTURES / "booking-created.json")
    return str(failed.value)


def _give_up(event, config):
    sys.exit("giving up")


def test_a_system_exit_or_other_base_exception_is_the_plugins_error_not_a_trap():
    message = _failure_of(_give_up)
    assert message.startswith("SystemExit: giving up\nTraceback (most recent call last):")
    assert "in _give_up" in message

    def interrupted(event, config):
        raise KeyboardInterrupt

    assert _failure_of(interrupted).startswith("KeyboardInterrupt\nTraceback")


def test_the_traceback_starts_at_the_plugins_own_frame():
    message = _failure_of(_give_up)
    assert "krog_plugin" not in message, message


def test_an_exception_whose_message_cannot_be_read_is_still_described():
    class Unreadable(Exception):
        def __str__(self):
            raise ValueError("no")

    def raising(event, config):
        raise Unreadable

    message = _failure_of(raising)
    assert message.startswith("Unreadable: (its message cannot be read: ValueError)\nTraceback")
    assert "in raising" in message


def test_a_delivery_of_the_wrong_shape_is_the_plugins_error_naming_the_field():
    assert _failure_of(lambda e, c: Deliver(None, b"")) == (
        "the delivery's content_type is None, not a str"
    )
    assert _failure_of(lambda e, c: Deliver("text/plain", 5)) == (
        "the delivery's body is int, not bytes or str"
    )
    assert _failure_of(lambda e, c: Deliver("text/plain", b"", [("x-n", 1)])).startswith(
        "the delivery's headers are [('x-n', 1)], not a list"
    )
    text = plugin(name="t")(lambda e, c: Deliver("text/plain", "é"))
    assert run(text, FIXTURES / "booking-created.json").body == "é".encode()


def test_a_config_schema_that_is_not_json_fails_where_the_plugin_is_declared():
    with pytest.raises(TypeError):
        plugin(name="p", config_schema={"max": {1, 2}})(lambda e, c: skip("x"))


@pytest.mark.skipif(
    importlib.util.find_spec("componentize_py") is None, reason="componentize-py is not installed"
)
def test_an_exception_at_import_fails_the_build_with_the_authors_line(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "top"\n')
    (tmp_path / "src" / "plugin.py").write_text(
        "from krog_plugin import plugin, skip\nfrom table import TABLE\n\n"
        '@plugin(name="top")\ndef transform(event, config):\n    return skip(str(TABLE))\n'
    )
    (tmp_path / "src" / "table.py").write_text(
        'def _load():\n    return {"a": 1}["b"]\n\n\nTABLE = _load()\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "krog_plugin.build", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1] / "src")},
    )
    assert done.returncode != 0
    assert 'table.py", line 2, in _load' in done.stderr, done.stderr
    assert "KeyError: 'b'" in done.stderr
    assert "Stack backtrace" not in done.stderr
    assert "a traceback above names the line that raised" in done.stderr
