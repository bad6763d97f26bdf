"""The Textual console (``vscanner tui``): a thin layer over the headless core.

Only this package (and ``appliance.commands.tui``) imports Textual; :mod:`.session` does not,
so the console's facade can be used and tested without it. ``make_app`` is imported lazily::

    from appliance.tui.session import ConsoleSession
    from appliance.tui import make_app

    with ConsoleSession.embedded("syngo-mr-xa11b") as session:
        make_app(session).run()
"""

from __future__ import annotations

__all__ = ["make_app"]

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "make_app":
        from .app import make_app

        return make_app
    raise AttributeError(name)
