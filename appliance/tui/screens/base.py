"""What every console screen shares: header, footer, sync on show."""

from __future__ import annotations

__all__ = ["ConsoleScreen"]

from typing import Any

from textual.screen import Screen


class ConsoleScreen(Screen):
    """A screen that renders from the app's :class:`~appliance.tui.app.ConsoleState`."""

    @property
    def state(self) -> Any:
        return self.app.state  # type: ignore[attr-defined]

    @property
    def session(self) -> Any:
        return self.app.session  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self.sync()

    def on_screen_resume(self) -> None:
        self.sync()

    def sync(self) -> None:  # pragma: no cover - every screen overrides it
        pass
