"""Patient: today's worklist from the RIS; filter, refresh, Enter selects for the exam; ``n``
registers an unscheduled patient (a form in a modal screen)."""

from __future__ import annotations

__all__ = ["PatientScreen"]

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static

from .base import ConsoleScreen

COLUMNS = ("scheduled", "patient", "ID", "sex", "birth date", "accession", "procedure", "step")


class PatientScreen(ConsoleScreen):
    BINDINGS = [Binding("r", "refresh", "Refresh"), Binding("/", "filter", "Filter"),
                Binding("n", "register", "Register patient")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Patient · worklist", classes="title")
        yield Input(placeholder="filter: name, ID or accession", id="filter")
        yield DataTable(id="worklist", cursor_type="row", zebra_stripes=True)
        yield Static(id="patient-status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#worklist", DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        self.sync()

    def action_refresh(self) -> None:
        self.app.refresh_worklist()  # type: ignore[attr-defined]
        self.sync()

    def action_register(self) -> None:
        def done(values: dict[str, str] | None) -> None:
            if values:
                self.app.register_patient(**values)  # type: ignore[attr-defined]

        self.app.push_screen(RegisterScreen(), done)

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self.sync()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one("#worklist", DataTable).focus()

    @on(DataTable.RowSelected, "#worklist")
    def _selected(self, message: DataTable.RowSelected) -> None:
        items = self.state.worklist or []
        index = int(message.row_key.value)
        if 0 <= index < len(items):
            self.app.select(items[index])  # type: ignore[attr-defined]
            self.app.action_show("exam")  # type: ignore[attr-defined]

    def sync(self) -> None:
        st = self.state
        table = self.query_one("#worklist", DataTable)
        needle = self.query_one("#filter", Input).value.strip().lower()
        items = st.worklist or []
        shown = []
        for index, item in enumerate(items):
            text = " ".join((item.patient_name, item.patient_id, item.accession_number)).lower()
            if needle and needle not in text:
                continue
            shown.append((index, item))
        signature = ([i for i, _ in shown], id(st.selected), id(st.worklist))
        if signature != getattr(self, "_signature", None):
            self._signature = signature
            cursor = table.cursor_row
            table.clear()
            for index, item in shown:
                start = item.scheduled_start
                mark = "▶ " if item is st.selected else ""
                table.add_row(start.strftime("%H:%M") if start else item.scheduled_start_date,
                              mark + (item.patient_name or "(no name)"), item.patient_id, item.sex or "-",
                              item.birth_date or "-", item.accession_number,
                              item.requested_procedure_description or item.scheduled_step_description,
                              item.scheduled_step_id, key=str(index))
            if shown:
                table.move_cursor(row=min(cursor, len(shown) - 1))
        status = self.query_one("#patient-status", Static)
        if st.worklist_error:
            status.update(f"[b red]worklist: {st.worklist_error}[/]  (r: try again)")
        elif st.worklist is None:
            status.update("querying the RIS …")
        else:
            sel = st.selected
            chosen = f" · selected: {sel.patient_name} ({sel.patient_id})" if sel is not None else ""
            busy = " · refreshing …" if st.worklist_loading else ""
            status.update(f"{len(shown)} of {len(items)} scheduled step(s) for {self.session.ae_title}"
                          f"{chosen}{busy} · Enter: select for the exam")


class RegisterScreen(ModalScreen[dict[str, str] | None]):
    """The registration form of an unscheduled patient; Enter in the last field or Register."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    FIELDS = (("name", "name (Family^Given)"), ("patient_id", "patient ID"), ("birth_date", "birth date YYYYMMDD"),
              ("sex", "sex M/F/O"), ("procedure", "procedure"))

    def compose(self) -> ComposeResult:
        with Vertical(id="register"):
            yield Label("[b]Register an unscheduled patient[/]")
            for key, placeholder in self.FIELDS:
                yield Input(placeholder=placeholder, id=f"reg-{key}")
            with Horizontal():
                yield Button("Register", id="reg-ok", variant="primary")
                yield Button("Cancel", id="reg-cancel")

    def on_mount(self) -> None:
        self.query_one("#reg-name", Input).focus()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#reg-{key}", Input).value for key, _ in self.FIELDS}

    @on(Input.Submitted)
    def _submitted(self, message: Input.Submitted) -> None:
        if message.input.id == "reg-procedure":
            self.dismiss(self.values())
        else:
            self.focus_next()

    @on(Button.Pressed, "#reg-ok")
    def _ok(self) -> None:
        self.dismiss(self.values())

    @on(Button.Pressed, "#reg-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
