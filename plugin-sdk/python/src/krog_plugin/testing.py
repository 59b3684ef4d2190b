"""Run a plugin natively, the way the component runs it: ``run(transform, event, config)``.

``event`` is a fixture path, an envelope dict or JSON text; ``config`` a dict or JSON text.
The result is the outcome (``Deliver`` or ``Skip``) with ``.logs`` set; a failure raises
:class:`PluginFailed` with the message krog would record.
"""

from __future__ import annotations

import json
from typing import Any, List, Tuple, Union

from . import Deliver, Failure, Plugin, Skip, log
from .booking import Event

__all__ = ["PluginFailed", "run"]


class PluginFailed(Exception):
    """The plugin failed; ``str(error)`` is the error krog records."""

    def __init__(self, message: str, logs: List[Tuple[str, str]]):
        super().__init__(message)
        self.logs = logs


def run(plugin: Plugin, event: Any, config: Any = None) -> Union[Deliver, Skip]:
    if not isinstance(event, Event):
        event = Event.from_envelope(event)
    text = config if isinstance(config, str) else json.dumps({} if config is None else config)
    logs: List[Tuple[str, str]] = []
    previous = log.sink
    log.sink = lambda level, message: logs.append((level, message))
    try:
        outcome = plugin.call(event, text)
    except Failure as failure:
        raise PluginFailed(str(failure), logs) from None
    finally:
        log.sink = previous
    outcome.logs = logs  # type: ignore[union-attr]
    return outcome
