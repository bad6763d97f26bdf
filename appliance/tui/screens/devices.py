"""Devices: network nodes with C-ECHO; the film camera's status and the product's message; the burner."""

from __future__ import annotations

__all__ = ["DevicesScreen"]

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from .base import ConsoleScreen


class DevicesScreen(ConsoleScreen):
    BINDINGS = [Binding("e", "echo", "Echo all")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Devices", classes="title")
        yield DataTable(id="nodes", cursor_type="row")
        yield Static(id="printer")
        yield Static(id="burner")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#nodes", DataTable)
        table.border_title = "network nodes"
        table.add_columns("node", "AE title", "address", "roles", "C-ECHO")
        self.query_one("#printer", Static).border_title = "film camera"
        self.query_one("#burner", Static).border_title = "burner"
        self.sync()

    def action_echo(self) -> None:
        self.app.echo_all()  # type: ignore[attr-defined]

    def sync(self) -> None:
        st = self.state
        table = self.query_one("#nodes", DataTable)
        table.clear()
        for name, node in self.session.nodes().items():
            text, ok = st.echo.get(name, ("e: echo", True))
            table.add_row(name, node.ae_title, f"{node.host}:{node.port}", ", ".join(node.roles),
                          text if ok else f"[red]{text}[/]", key=name)
        p = self.session.printer_state()
        printer = self.query_one("#printer", Static)
        if not p.known:
            printer.update(f"{p.node or 'no printer configured'}: status known while printing")
        else:
            colour = {"idle": "green", "interact": "yellow", "queue_stopped": "red"}.get(p.reaction, "white")
            printer.update(f"{p.node}  [b]{p.printer_status}[/] {p.info}\n"
                           f"[{colour}]{p.symbol}[/]  {p.message or '(no message)'}")
        b = self.session.burner_state()
        burner = self.query_one("#burner", Static)
        if not b.available:
            burner.update(b.detail)
        else:
            disc = f"{b.disc} ({'closed' if b.closed else 'blank'})" if b.disc else "no disc"
            burner.update(f"drive [b]{b.state}[/] · {disc} · {b.burned} image(s) burned"
                          + (f" · {b.detail}" if b.detail else ""))
