import pathlib

from krog_plugin.testing import run
from plugin import transform

EVENT = pathlib.Path(__file__).resolve().parent.parent / "event.json"


def test_a_new_booking_is_greeted():
    out = run(transform, EVENT, {"greeting": "Hej"})
    assert out.text() == "Hej, Jens Ødegård!"
    assert out.logs == [("info", "greeting booking bk_1042")]
