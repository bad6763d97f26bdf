"""Exam: the product's protocols and their editable parameters; start / stop the exam of the
selected patient; its steps, progress and a live preview of the slices as they are stored."""

from __future__ import annotations

__all__ = ["ExamScreen"]

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from ..render import halfblocks
from .base import ConsoleScreen

AS_SCHEDULED = "(as scheduled)"
MARKS = {"ok": "✔", "failed": "✘", "running": "…", "skipped": "–", "n/a": "n/a", "pending": "·",
         "not available": "–"}


class ExamScreen(ConsoleScreen):
    BINDINGS = [Binding("s", "start", "Start exam"), Binding("x", "stop", "Stop exam"),
                Binding("e", "edit", "Edit parameter"), Binding("z", "reset", "Reset parameters")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Exam", classes="title")
        yield Static(id="exam-patient", classes="status")
        with Horizontal(id="exam-body"):
            with Vertical(id="exam-left"):
                yield OptionList(id="protocols")
                yield DataTable(id="params", cursor_type="row")
                yield Input(id="param-edit", placeholder="Enter on a parameter edits it")
            with Vertical():
                yield DataTable(id="steps", cursor_type="none")
                yield ProgressBar(id="progress", show_eta=False)
                with Horizontal(id="preview-row"):
                    yield Static(id="preview")
                    yield Static(id="preview-info")
        yield Static(id="exam-status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        protocols = self.query_one("#protocols", OptionList)
        protocols.border_title = "protocol"
        protocols.add_option(Option(AS_SCHEDULED, id=""))
        for p in self.session.protocols():
            protocols.add_option(Option(f"{p.name}  [dim]{p.body_part}, {p.series} series[/]", id=p.name))
        protocols.highlighted = 0
        params = self.query_one("#params", DataTable)
        params.border_title = "parameters"
        params.add_columns("series", "", "value", "")
        self.query_one("#param-edit", Input).display = False
        steps = self.query_one("#steps", DataTable)
        steps.border_title = "steps"
        steps.add_columns("", "step", "status", "time", "counts", "message")
        self.query_one("#preview", Static).border_title = "preview"
        protocols.focus()
        self.sync()

    # --- protocol and parameters -------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#protocols")
    def _protocol(self, message: OptionList.OptionHighlighted) -> None:
        self.app.choose_protocol(message.option.id or None)  # type: ignore[attr-defined]

    @on(OptionList.OptionSelected, "#protocols")
    def _protocol_selected(self, message: OptionList.OptionSelected) -> None:
        self.app.choose_protocol(message.option.id or None)  # type: ignore[attr-defined]
        if self.query_one("#params", DataTable).row_count:
            self.query_one("#params", DataTable).focus()

    @on(DataTable.RowSelected, "#params")
    def _param_selected(self, message: DataTable.RowSelected) -> None:
        self.edit(str(message.row_key.value))

    def action_edit(self) -> None:
        table = self.query_one("#params", DataTable)
        if not table.row_count:
            self.notify("choose a protocol to edit its parameters", severity="warning")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        self.edit(str(key))

    def edit(self, key: str) -> None:
        protocol = self.app.current_protocol()  # type: ignore[attr-defined]
        if protocol is None:
            return
        param = next((p for p in self.session.parameters(protocol) if p.key == key), None)
        if param is None:
            return
        box = self.query_one("#param-edit", Input)
        box.border_title = f"{param.series_description} {param.label}" + (f" ({param.unit})" if param.unit else "")
        box.placeholder = (" / ".join(param.choices) if param.choices else f"was {param.original:g}")
        box.value = param.text
        box.display = True
        self._editing = key
        box.focus()

    @on(Input.Submitted, "#param-edit")
    def _param_done(self, message: Input.Submitted) -> None:
        key = getattr(self, "_editing", None)
        if key is not None and self.app.set_parameter(key, message.value):  # type: ignore[attr-defined]
            message.input.display = False
            self._editing = None
            self.query_one("#params", DataTable).focus()

    def action_reset(self) -> None:
        self.app.reset_parameters()  # type: ignore[attr-defined]

    def action_start(self) -> None:
        self.app.start_exam()  # type: ignore[attr-defined]

    def action_stop(self) -> None:
        self.app.stop_exam()  # type: ignore[attr-defined]

    # --- rendering ------------------------------------------------------------------------------------

    def _sync_params(self) -> None:
        table = self.query_one("#params", DataTable)
        protocol = self.app.current_protocol()  # type: ignore[attr-defined]
        params = self.session.parameters(protocol) if protocol is not None else []
        signature = (protocol, tuple((p.key, p.value) for p in params))
        if signature == getattr(self, "_params_signature", None):
            return
        self._params_signature = signature
        cursor = table.cursor_row
        table.clear()
        if protocol is None:
            table.border_subtitle = "choose a protocol to edit"
            return
        table.border_subtitle = "Enter: edit · z: reset" if params else "nothing to edit"
        last = None
        for p in params:
            series = p.series_description if p.series != last else ""
            last = p.series
            value = f"[b yellow]{p.text}[/]" if p.edited else p.text
            table.add_row(series[:18], p.label, value, p.unit, key=p.key)
        if params:
            table.move_cursor(row=min(cursor, len(params) - 1))

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
        self._sync_params()
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
        else:  # nothing runs: an empty bar (not the animated "unknown total" one)
            bar.update(total=1, progress=0)
        preview = self.query_one("#preview", Static)
        info = self.query_one("#preview-info", Static)
        if st.preview is not None:
            image, caption = st.preview
            if getattr(self, "_shown_preview", None) is not st.preview:
                self._shown_preview = st.preview
                preview.update(halfblocks(image))
            info.update(f"[b]live[/] {caption}")
        else:
            self._shown_preview = None
            preview.update("[dim]the slices show here as they are stored[/]")
            info.update("")
        status = self.query_one("#exam-status", Static)
        if st.exam_error:
            status.update(f"[b red]{st.exam_error}[/]")
        elif st.exam_result is not None:
            r = st.exam_result
            status.update(f"[b]{r.outcome}[/] in {r.duration:.1f} s · protocol {r.protocol} · {len(r.acquired)} "
                          f"acquired, {len(r.sent)} sent, {len(r.committed)} committed, {r.films} film(s)"
                          + (f", disc {r.iso.rsplit('/', 1)[-1]}" if r.iso else ""))
        else:
            step = f" · {st.progress[0]} {st.progress[1]}/{st.progress[2]}" if st.progress else ""
            status.update(f"state: {st.exam_state}{step}" + ("" if st.exam_running else " · s: start exam"))
