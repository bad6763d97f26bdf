"""Browser: the local store as patient / study / series with counts; send, print and burn the
highlighted node (the same core calls as ``vscanner send`` / ``print`` / ``burn``)."""

from __future__ import annotations

__all__ = ["BrowserScreen"]

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static, Tree

from .base import ConsoleScreen


PLURALS = {"study": "studies", "series": "series"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word if n == 1 else PLURALS.get(word, word + 's')}"


def describe(node: Any) -> str:
    """What an action on *node* (patient, study or series) is called in messages."""
    if hasattr(node, "studies"):
        return f"patient {node.name or node.patient_id}"
    if hasattr(node, "series"):
        return f"study {node.description or node.accession or node.uid}"
    return f"series {node.number} {node.description}".rstrip()


class BrowserScreen(ConsoleScreen):
    BINDINGS = [Binding("s", "send", "Send"), Binding("p", "print", "Print"), Binding("b", "burn", "Burn"),
                Binding("r", "refresh", "Refresh")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Browser · local store", classes="title")
        yield Tree("store", id="store")
        yield Static(id="browser-status", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        tree = self.query_one("#store", Tree)
        tree.show_root = False
        tree.border_title = "patient / study / series"
        tree.focus()
        self.sync()

    def on_screen_resume(self) -> None:
        self.app.refresh_browser()  # type: ignore[attr-defined]
        self.sync()

    def selection(self) -> Any:
        node = self.query_one("#store", Tree).cursor_node
        return node.data if node is not None else None

    def _act(self, method: str) -> None:
        data = self.selection()
        if data is None:
            self.notify("nothing highlighted: the store is empty, or choose a patient, study or series",
                        severity="warning")
            return
        getattr(self.app, method)(list(data.paths), describe(data))

    def action_send(self) -> None:
        self._act("send_paths")

    def action_print(self) -> None:
        self._act("print_paths")

    def action_burn(self) -> None:
        self._act("burn_paths")

    def action_refresh(self) -> None:
        self.app.refresh_browser()  # type: ignore[attr-defined]

    def sync(self) -> None:
        st = self.state
        tree = self.query_one("#store", Tree)
        patients = st.browser or []
        if patients is not getattr(self, "_shown", None):
            self._shown = patients
            line = tree.cursor_line
            tree.clear()
            for p in patients:
                pnode = tree.root.add(
                    f"[b]{p.name or '(no name)'}[/] {p.patient_id} · {_plural(len(p.studies), 'study')}, "
                    f"{_plural(p.series_count, 'series')}, {_plural(p.instances, 'instance')}", data=p, expand=True)
                for study in p.studies:
                    date = f"{study.date[:4]}-{study.date[4:6]}-{study.date[6:8]}" if len(study.date) == 8 else "-"
                    snode = pnode.add(f"{date} {study.description or '(no description)'} · accession "
                                      f"{study.accession or '-'} · {_plural(len(study.series), 'series')}, "
                                      f"{_plural(study.instances, 'instance')}", data=study, expand=True)
                    for series in study.series:
                        snode.add_leaf(f"{series.number if series.number is not None else '-':>3} {series.modality:<3} "
                                       f"{series.description or '(no description)'} · "
                                       f"{_plural(series.instances, 'instance')}, {series.size / 1e6:.2f} MB",
                                       data=series)
            if patients:
                tree.cursor_line = max(0, min(line, 10_000))
        status = self.query_one("#browser-status", Static)
        busy = " · ".join(f"{what} …" for what in st.busy.values())
        if st.browser_error:
            status.update(f"[b red]{st.browser_error}[/]  (r: try again)")
        elif st.browser is None:
            status.update("reading the store …")
        else:
            studies = sum(len(p.studies) for p in patients)
            series = sum(p.series_count for p in patients)
            instances = sum(p.instances for p in patients)
            status.update(f"{_plural(len(patients), 'patient')}, {_plural(studies, 'study')}, "
                          f"{_plural(series, 'series')}, {_plural(instances, 'instance')} in the local store"
                          + (f" · {busy}" if busy else " · s: send, p: print, b: burn the highlighted node"))
