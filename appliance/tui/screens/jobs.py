"""Jobs: the send and commitment queue, the print queue (with each camera's queue state and
message) and the burn jobs, with progress bars; retry, cancel, resume the camera's queue."""

from __future__ import annotations

__all__ = ["JobsScreen"]

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from ..render import bar
from .base import ConsoleScreen

TABLES = ("send", "print", "burn")


class JobsScreen(ConsoleScreen):
    BINDINGS = [Binding("r", "refresh", "Refresh"), Binding("t", "retry", "Retry"), Binding("c", "cancel", "Cancel"),
                Binding("u", "resume", "Resume camera queue")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Jobs · send and commitment, print, burn", classes="title")
        yield DataTable(id="send", cursor_type="row")
        yield DataTable(id="print", cursor_type="row")
        yield Static(id="cameras", classes="status")
        yield DataTable(id="burn", cursor_type="row")
        yield Static(id="jobs-status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        send = self.query_one("#send", DataTable)
        send.border_title = "send and storage commitment"
        send.add_columns("job", "destination", "progress", "state", "commitment", "last error")
        prints = self.query_one("#print", DataTable)
        prints.border_title = "print"
        prints.add_columns("job", "camera", "films", "state", "attempts", "last error")
        burn = self.query_one("#burn", DataTable)
        burn.border_title = "burn"
        burn.add_columns("job", "disc", "progress", "state", "result")
        send.focus()
        self.sync()

    def on_screen_resume(self) -> None:
        self.app.refresh_jobs()  # type: ignore[attr-defined]
        self.sync()

    # --- actions on the highlighted job of the focused table ------------------------------------

    def _target(self) -> tuple[str, int] | None:
        focused = self.focused
        kind = focused.id if isinstance(focused, DataTable) and focused.id in TABLES else "send"
        table = self.query_one(f"#{kind}", DataTable)
        if not table.row_count:
            self.notify(f"no {kind} job to act on (tab: the next table)", severity="warning")
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return kind, int(str(key))

    def action_refresh(self) -> None:
        self.app.refresh_jobs()  # type: ignore[attr-defined]

    def action_retry(self) -> None:
        target = self._target()
        if target is not None:
            self.app.retry_job(*target)  # type: ignore[attr-defined]

    def action_cancel(self) -> None:
        target = self._target()
        if target is not None:
            self.app.cancel_job(*target)  # type: ignore[attr-defined]

    def action_resume(self) -> None:
        self.app.resume_printer()  # type: ignore[attr-defined]

    # --- rendering ----------------------------------------------------------------------------------

    @staticmethod
    def _refill(table: DataTable, rows: list[tuple[str, tuple[str, ...]]]) -> None:
        cursor = table.cursor_row
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if rows:
            table.move_cursor(row=min(max(cursor, 0), len(rows) - 1))

    def sync(self) -> None:
        st = self.state
        send_rows = []
        for j in st.send_jobs:
            c = j.counts
            sent = c.get("sent", 0) + c.get("committed", 0)
            progress = bar(j.done, j.total)
            detail = f"{sent} sent" + (f", {c['failed']} failed" if c.get("failed") else "") + (
                f", {c['queued']} queued" if c.get("queued") else "")
            commitment = (f"{c.get('committed', 0)} committed" + (f", {c['commit_failed']} failed"
                                                                 if c.get("commit_failed") else "")
                          + f" ({j.commit_state})") if j.commit_wanted else "not asked"
            state = j.state if j.state not in ("failed",) else f"[red]{j.state}[/]"
            send_rows.append((str(j.id), (str(j.id), j.destination, progress, f"{state} · {detail}", commitment,
                                          j.last_error[:50])))
        self._refill(self.query_one("#send", DataTable), send_rows)
        print_rows = []
        for pj in st.print_jobs:
            state = pj.state if pj.state != "failed" else f"[red]{pj.state}[/]"
            print_rows.append((str(pj.id), (str(pj.id), pj.destination, bar(pj.units_done, pj.units), state,
                                            str(pj.attempts), pj.last_error[:50])))
        self._refill(self.query_one("#print", DataTable), print_rows)
        cameras = self.query_one("#cameras", Static)
        lines = []
        for cam in st.cameras:
            colour = "red" if cam.stopped else "green"
            lines.append(f"camera {cam.destination}: queue [{colour}]{cam.queue_state}[/] · "
                         f"{cam.printer_status} {cam.status_info}".rstrip()
                         + (f" · [b]{cam.message}[/]" if cam.message else "")
                         + (" · u: resume" if cam.stopped else ""))
        cameras.update("\n".join(lines) or "[dim]no print job yet[/]")
        burn_rows = []
        for b in st.burn_jobs:
            result = b.iso.rsplit("/", 1)[-1] if b.state == "burned" else (b.error[:60] if b.error else "")
            stage = f" {b.stage}" if b.state == "burning" and b.stage else ""
            state = b.state if b.state != "failed" else f"[red]{b.state}[/]"
            burn_rows.append((str(b.id), (str(b.id), b.label[:40], bar(b.done, b.total, percent=True),
                                          f"{state}{stage}", result)))
        self._refill(self.query_one("#burn", DataTable), burn_rows)
        status = self.query_one("#jobs-status", Static)
        if st.jobs_error:
            status.update(f"[b red]{st.jobs_error}[/]")
            return
        items: dict[str, int] = {}
        for j in st.send_jobs:
            for k, n in j.counts.items():
                if n:
                    items[k] = items.get(k, 0) + n
        summary = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in items.items()) or "nothing queued"
        when = self.app.stamp(st.jobs_loaded_at) if st.jobs_loaded_at else "-"  # type: ignore[attr-defined]
        busy = " · ".join(f"{what} …" for what in st.busy.values())
        status.update(f"send: {summary} · {len(st.print_jobs)} print, {len(st.burn_jobs)} burn job(s) · read {when}"
                      + (f" · {busy}" if busy else " · tab: next table, t: retry, c: cancel"))
