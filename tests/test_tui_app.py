"""Pilot tests of the console (`App.run_test`) against the embedded hospital.

Every wait is bounded; a whole exam takes a few seconds (product delays x0.001).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

import pytest

pytest.importorskip("textual")

from textual.widgets import DataTable, Static  # noqa: E402

from appliance.printing.status import react  # noqa: E402
from appliance.tui.app import make_app  # noqa: E402
from appliance.tui.bridge import CoreEvent, ExamDone  # noqa: E402
from appliance.tui.session import ConsoleSession  # noqa: E402
from appliance.workflow import events as ev  # noqa: E402

SIZE = (140, 40)


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.05)


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(r)[index]) for r in range(table.row_count)]


@pytest.fixture
def mr_session(tmp_path):
    session = ConsoleSession.embedded("syngo-mr-xa11b", tmp_path / "hospital")
    try:
        yield session
    finally:
        session.close()


def test_whole_exam_from_the_console(mr_session: ConsoleSession) -> None:
    """Patient: pick a worklist entry -> Exam: start -> the steps end ok -> Jobs: every instance
    committed -> the PACS holds (and committed) every acquired instance, the RIS has the MPPS."""
    hospital = mr_session.hospital
    messages: list[Any] = []

    async def run() -> Any:
        app = make_app(mr_session)
        async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
            from textual.widgets._header import HeaderTitle

            header = str(app.screen.query_one(HeaderTitle).render())
            assert mr_session.product in header and f"AE {mr_session.ae_title}" in header
            # Patient: the worklist from the embedded RIS
            await wait_until(pilot, lambda: app.state.worklist is not None, 15, "the worklist")
            assert app.current_mode == "patient"
            table = app.screen.query_one("#worklist", DataTable)
            assert table.row_count == len(app.state.worklist) >= 2
            wanted = app.state.worklist[1]
            await pilot.press("down", "enter")          # the second entry, selected for the exam
            await pilot.pause()
            assert app.current_mode == "exam"
            assert app.state.selected is wanted
            assert wanted.patient_id in text_of(app, "#exam-patient")
            # Exam: the product's protocols, start, wait for the end (bounded)
            protocols = app.screen.query_one("#protocols")
            assert protocols.option_count == len(mr_session.protocols()) + 1
            await pilot.press("s")
            await wait_until(pilot, lambda: app.state.exam_result is not None or app.state.exam_error, 60,
                             "the exam to end")
            assert app.state.exam_error == ""
            result = app.state.exam_result
            assert result.ok, result.table()
            steps = app.screen.query_one("#steps", DataTable)
            assert column(steps, 2) == ["ok"] * 10
            assert "completed" in text_of(app, "#exam-status")
            # Jobs: every queued instance sent and committed
            await pilot.press("3")
            await wait_until(pilot, lambda: len(app.state.jobs) == len(result.acquired)
                             and all(i.state == "committed" for i in app.state.jobs), 15, "the jobs")
            await pilot.pause()
            jobs = app.screen.query_one("#jobs", DataTable)
            assert column(jobs, 4) == ["committed"] * len(result.acquired)
            assert f"{len(result.acquired)} committed" in text_of(app, "#jobs-status")
            # Log: the steps are there
            await pilot.press("5")
            await pilot.pause()
            assert any("commit: ok" in line for line in app.state.log)
            return result, wanted

    result, wanted = asyncio.run(run())
    assert (result.patient["id"], result.patient["accession"]) == (wanted.patient_id, wanted.accession_number)
    assert hospital.pacs.holds(result.acquired)
    assert hospital.pacs.committed >= set(result.acquired)
    assert hospital.ris.steps[result.mpps_uid].status == "COMPLETED"
    # the exam's events reached the app as messages, in order, through the bridge
    core = [m.event for m in messages if isinstance(m, CoreEvent)]
    started = [e.step for e in core if isinstance(e, ev.StepStarted)]
    assert started[0] == "worklist" and "commit" in started and started[-1] == "burn"
    assert isinstance(core[-1], ev.ExamFinished)
    assert any(isinstance(m, ExamDone) for m in messages)


@pytest.mark.parametrize("profile", ["syngo-ct-va50a", "syngo-mr-xa11b"])
def test_printer_status_shows_the_products_message(profile: str, tmp_path) -> None:
    """A FILM JAM injected into the film camera shows the product's message and symbol in Devices,
    whether it comes from the app's thread or from another thread (call_from_thread)."""
    session = ConsoleSession.embedded(profile, tmp_path / "hospital")
    expected = react(session.profile.print, "FAILURE", "FILM JAM")
    assert expected.message

    async def run() -> None:
        app = make_app(session, autoload=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("4")
            await pilot.pause()
            assert app.current_mode == "devices"
            assert "NORMAL" in text_of(app, "#printer")
            session.hospital.printer.set_status("FAILURE", "FILM JAM")   # from the app's thread
            await wait_until(pilot, lambda: expected.message in text_of(app, "#printer"), 5, "the message")
            text = text_of(app, "#printer")
            assert "FAILURE" in text and "FILM JAM" in text
            assert {"queue_stopped": "queue stopped", "interact": "interact"}[expected.reaction] in text
            assert any(expected.message in line for line in app.state.log)
            # cleared from another thread: the bridge goes through call_from_thread
            t = threading.Thread(target=session.hospital.printer.set_status, args=("NORMAL", ""))
            t.start()
            await wait_until(pilot, lambda: not t.is_alive(), 5, "the status thread")
            await wait_until(pilot, lambda: expected.message not in text_of(app, "#printer"), 5, "the clear")
            assert "NORMAL" in text_of(app, "#printer")
            # the nodes are listed, the RIS and the PACS answer C-ECHO
            await pilot.press("e")
            await wait_until(pilot, lambda: all(app.state.echo.get(n, ("…",))[0] != "…" for n in ("ris", "pacs")),
                             10, "the echoes")
            assert app.state.echo["ris"][1] and app.state.echo["pacs"][1]
            nodes = app.screen.query_one("#nodes", DataTable)
            assert set(column(nodes, 0)) == set(session.nodes())

    try:
        asyncio.run(run())
    finally:
        session.close()


def test_command_palette_offers_the_console_actions(tmp_path) -> None:
    session = ConsoleSession.embedded("syngo-mr-xa11b", tmp_path / "hospital")

    async def run() -> None:
        app = make_app(session, autoload=False)
        async with app.run_test(size=SIZE) as pilot:
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for wanted in ("Start exam", "Stop exam", "Refresh worklist", "Refresh jobs", "Echo all nodes",
                           "Show Patient", "Show Devices"):
                assert wanted in titles
            # starting without a selection does nothing but say so
            app.start_exam()
            await pilot.pause()
            assert not app.state.exam_running and app.state.exam_result is None
            await pilot.press("2")
            await pilot.pause()
            assert "no patient selected" in text_of(app, "#exam-patient")

    try:
        asyncio.run(run())
    finally:
        session.close()
