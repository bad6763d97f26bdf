"""Log: every event of the exam and the devices, as lines."""

from __future__ import annotations

__all__ = ["LogScreen"]

from textual.app import ComposeResult
from textual.widgets import Footer, Header, RichLog, Static

from .base import ConsoleScreen


class LogScreen(ConsoleScreen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Log", classes="title")
        yield RichLog(id="log", wrap=True, markup=False, max_lines=2000)
        yield Footer()

    def sync(self) -> None:
        self.append_log()

    def append_log(self) -> None:
        log = self.query_one("#log", RichLog)
        st = self.state
        new = min(st.log_total - getattr(self, "_written", 0), len(st.log))
        for line in st.log[len(st.log) - new:] if new > 0 else []:
            log.write(line, expand=True)
        self._written = st.log_total
