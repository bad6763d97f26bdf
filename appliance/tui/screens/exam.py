"""Exam: the product's protocols; start / stop the exam of the selected patient; its steps."""

from __future__ import annotations

__all__ = ["ExamScreen"]

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from .base import ConsoleScreen

AS_SCHEDULED = "(as scheduled)"
MARKS = {"ok": "✔", "failed": "✘", "running": "…", "skipped": "–", "n/a": "n/a", "pending": "·",
         "not available": "–"}


class ExamScreen(ConsoleScreen):
    BINDINGS = [Binding("s", "start", "Start exam"), Binding("x", "stop", "Stop exam")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Exam", classes="title")
        yield Static(id="exam-patient", classes="status")
        with Horizontal(id="exam-body"):
            yield OptionList(id="protocols")
            with Vertical():
                yield DataTable(id="steps", cursor_type="none")
                yield ProgressBar(id="progress", show_eta=False)
        yield Static(id="exam-status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        protocols = self.query_one("#protocols", OptionList)
        protocols.border_title = "protocol"
        protocols.add_option(Option(AS_SCHEDULED, id=""))
        for p in self.session.protocols():
            protocols.add_option(Option(f"{p.name}  [dim]{p.body_part}, {p.series} series[/]", id=p.name))
        protocols.highlighted = 0
        steps = self.query_one("#steps", DataTable)
        steps.border_title = "steps"
        steps.add_columns("", "step", "status", "time", "counts", "message")
        protocols.focus()
        self.sync()

    @on(OptionList.OptionHighlighted, "#protocols")
    def _protocol(self, message: OptionList.OptionHighlighted) -> None:
        self.app.choose_protocol(message.option.id or None)  # type: ignore[attr-defined]

    @on(OptionList.OptionSelected, "#protocols")
    def _protocol_selected(self, message: OptionList.OptionSelected) -> None:
        self.app.choose_protocol(message.option.id or None)  # type: ignore[attr-defined]
        self.action_start()

    def action_start(self) -> None:
        self.app.start_exam()  # type: ignore[attr-defined]

    def action_stop(self) -> None:
        self.app.stop_exam()  # type: ignore[attr-defined]

    def sync(self) -> None:
        st = self.state
        sel = st.selected
        patient = self.query_one("#exam-patient", Static)
        if sel is None:
            patient.update("no patient selected: choose a worklist entry on the Patient screen (1, Enter)")
        else:
            patient.update(f"[b]{sel.patient_name}[/]  ID {sel.patient_id}  {sel.sex or '-'} {sel.birth_date or ''}"
                           f"  accession {sel.accession_number}  ·  "
                           f"{sel.requested_procedure_description or sel.scheduled_step_description}")
        table = self.query_one("#steps", DataTable)
        table.clear()
        for v in st.steps.values():
            duration = f"{v.duration:.2f} s" if v.duration is not None and v.status not in ("pending",) else ""
            table.add_row(MARKS.get(v.status, "?"), v.title, v.status, duration, v.counts,
                          v.message if len(v.message) <= 90 else v.message[:87] + "…", key=v.name)
        bar = self.query_one("#progress", ProgressBar)
        if st.progress is not None:
            step, done, total, _detail = st.progress
            if total:
                bar.update(total=total, progress=done)
            else:
                bar.update(total=None)
        elif st.exam_result is not None:
            bar.update(total=1, progress=1)
        status = self.query_one("#exam-status", Static)
        if st.exam_error:
            status.update(f"[b red]{st.exam_error}[/]")
        elif st.exam_result is not None:
            r = st.exam_result
            status.update(f"[b]{r.outcome}[/] in {r.duration:.1f} s · protocol {r.protocol} · {len(r.acquired)} "
                          f"acquired, {len(r.sent)} sent, {len(r.committed)} committed, {r.films} film(s)"
                          + (f", disc {r.iso}" if r.iso else ""))
        else:
            step = f" · {st.progress[0]} {st.progress[1]}/{st.progress[2]}" if st.progress else ""
            status.update(f"state: {st.exam_state}{step}" + ("" if st.exam_running else " · s: start exam"))
