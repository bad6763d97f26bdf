"""Devices: network nodes with their liveness check (C-ECHO; the film camera: Printer N-GET);
the film camera's status with the product's message and symbol, its serial status line; the burner."""

from __future__ import annotations

__all__ = ["DevicesScreen"]

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from .base import ConsoleScreen


class DevicesScreen(ConsoleScreen):
    BINDINGS = [Binding("e", "echo", "Echo all"), Binding("l", "status_line", "Read status line")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Devices", classes="title")
        yield DataTable(id="nodes", cursor_type="row")
        yield Static(id="printer")
        yield Static(id="serial")
        yield Static(id="burner")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#nodes", DataTable)
        table.border_title = "network nodes"
        table.add_columns("node", "AE title", "address", "roles", "check")
        self.query_one("#printer", Static).border_title = "film camera"
        self.query_one("#serial", Static).border_title = "camera status line (serial)"
        self.query_one("#burner", Static).border_title = "burner"
        self.sync()
        if self.state.status_line is None:
            self.app.read_status_line()  # type: ignore[attr-defined]

    def action_echo(self) -> None:
        self.app.echo_all()  # type: ignore[attr-defined]

    def action_status_line(self) -> None:
        self.app.read_status_line()  # type: ignore[attr-defined]

    def sync(self) -> None:
        st = self.state
        table = self.query_one("#nodes", DataTable)
        table.clear()
        for name, node in self.session.nodes().items():
            # a film camera need not offer Verification (the embedded one does not): Printer N-GET
            default = "e: N-GET Printer (a camera has no C-ECHO)" if "printer" in node.roles else "e: C-ECHO"
            text, ok = st.echo.get(name, (default, True))
            table.add_row(name, node.ae_title, f"{node.host}:{node.port}", ", ".join(node.roles),
                          text if ok else f"[red]{text}[/]", key=name)
        p = self.session.printer_state()
        printer = self.query_one("#printer", Static)
        if not p.known:
            printer.update(f"{p.node or 'no printer configured'}: status known while printing (Jobs: the print "
                           "queue's last status)")
        else:
            colour = {"idle": "green", "interact": "yellow", "queue_stopped": "red"}.get(p.reaction, "white")
            printer.update(f"{p.node}  [b]{p.printer_status}[/] {p.info}\n"
                           f"[{colour}]{p.symbol}[/]  {p.message or '(no message)'}")
        serial = self.query_one("#serial", Static)
        if st.status_line is None:
            serial.update("[dim]reading …[/]")
        else:
            text, ok = st.status_line
            serial.update(text if ok else f"[red]{text}[/]")
        b = self.session.burner_state()
        burner = self.query_one("#burner", Static)
        if not b.available:
            burner.update(b.detail)
        else:
            disc = f"{b.disc} ({'closed' if b.closed else 'blank'})" if b.disc else "no disc"
            burner.update(f"drive [b]{b.state}[/] · {disc} · {b.burned} image(s) burned"
                          + (f" · fault {b.fault}" if b.fault else "")
                          + (f" · {b.detail}" if b.detail else ""))
