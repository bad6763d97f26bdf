"""Jobs: the durable send queue, every instance to every destination with its state."""

from __future__ import annotations

__all__ = ["JobsScreen"]

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from .base import ConsoleScreen


class JobsScreen(ConsoleScreen):
    BINDINGS = [Binding("r", "refresh", "Refresh")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Jobs · send and storage commitment queue", classes="title")
        yield DataTable(id="jobs", cursor_type="row", zebra_stripes=True)
        yield Static(id="jobs-status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#jobs", DataTable).add_columns("item", "job", "destination", "SOP instance", "state",
                                                       "attempts", "last error")
        self.sync()

    def on_screen_resume(self) -> None:
        self.app.refresh_jobs()  # type: ignore[attr-defined]
        self.sync()

    def action_refresh(self) -> None:
        self.app.refresh_jobs()  # type: ignore[attr-defined]

    def sync(self) -> None:
        st = self.state
        table = self.query_one("#jobs", DataTable)
        table.clear()
        counts: dict[str, int] = {}
        for i in st.jobs:
            counts[i.state] = counts.get(i.state, 0) + 1
            uid = i.sop_instance_uid
            table.add_row(str(i.id), str(i.job_id), i.destination, "…" + uid[-28:] if len(uid) > 29 else uid,
                          i.state, str(i.attempts), (i.last_error or "")[:60], key=str(i.id))
        status = self.query_one("#jobs-status", Static)
        if st.jobs_error:
            status.update(f"[b red]{st.jobs_error}[/]")
            return
        summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "the queue is empty"
        when = time.strftime("%H:%M:%S", time.localtime(st.jobs_loaded_at)) if st.jobs_loaded_at else "-"
        status.update(f"{len(st.jobs)} item(s): {summary} · read {when} · r: refresh")
