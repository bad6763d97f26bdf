"""Pilot tests of the console (`App.run_test`) against the embedded hospital.

Every wait is bounded; a whole exam takes a few seconds (product delays x0.001).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

pytest.importorskip("textual")

import pydicom  # noqa: E402
from textual.widgets import DataTable, Input, Static, Tree  # noqa: E402

from appliance.printing.status import react  # noqa: E402
from appliance.tui.app import make_app  # noqa: E402
from appliance.tui.bridge import CoreEvent, ExamDone, PreviewReady  # noqa: E402
from appliance.tui.session import ConsoleSession  # noqa: E402
from appliance.workflow import events as ev  # noqa: E402
from .peers import require, run  # noqa: E402

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


def values(ds: Any, keyword: str) -> list[Any]:
    """Every value of *keyword* anywhere in *ds* (functional groups included)."""
    return [e.value for e in ds.iterall() if e.keyword == keyword]


def dciodvfy_errors(path: Path) -> list[str]:
    result = run([require("dciodvfy"), str(path)])
    lines = (result.stdout + result.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error") or " - Error - " in ln]


@pytest.fixture
def mr_session(tmp_path):
    session = ConsoleSession.embedded("syngo-mr-xa11b", tmp_path / "hospital")
    try:
        yield session
    finally:
        session.close()


def test_whole_exam_from_the_console(mr_session: ConsoleSession) -> None:
    """Patient: pick a worklist entry -> Exam: a protocol, TR edited, start -> the steps end ok,
    the stored slices previewed -> Jobs: the send committed, the exam's film and disc -> Browser:
    print and burn the study again -> Jobs: printed, burned. The PACS holds (and committed)
    every acquired instance, the RIS has the MPPS, the edited TR is in the object."""
    hospital = mr_session.hospital
    messages: list[Any] = []

    async def run_console() -> Any:
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
            # Exam: the product's protocols; "Head routine"; T1 SE's TR edited to 650 ms
            protocols = app.screen.query_one("#protocols")
            assert protocols.option_count == len(mr_session.protocols()) + 1
            await pilot.press("down", "enter")
            await pilot.pause()
            assert app.state.protocol == "Head routine"
            params = app.screen.query_one("#params", DataTable)
            keys = [str(params.coordinate_to_cell_key((r, 0)).row_key.value) for r in range(params.row_count)]
            target = next(p for p in mr_session.parameters(app.current_protocol())
                          if p.label == "TR" and p.series_description == "t1_se_tra")
            params.move_cursor(row=keys.index(target.key))
            await pilot.press("enter")
            await pilot.pause()
            box = app.screen.query_one("#param-edit", Input)
            assert box.has_focus and box.value == target.text
            box.value = "1"                                # refused: shorter than TE
            await pilot.press("enter")
            await pilot.pause()
            assert "Head routine" not in app.state.edited and box.display
            box.value = "650"
            await pilot.press("enter")
            await pilot.pause()
            assert not box.display
            assert "650" in column(params, 2)[keys.index(target.key)]
            await pilot.press("s")
            await wait_until(pilot, lambda: app.state.exam_result is not None or app.state.exam_error, 60,
                             "the exam to end")
            assert app.state.exam_error == ""
            result = app.state.exam_result
            assert result.ok, result.table()
            steps = app.screen.query_one("#steps", DataTable)
            assert column(steps, 2) == ["ok"] * 10
            assert "completed" in text_of(app, "#exam-status")
            assert app.state.preview is not None and "live" in text_of(app, "#preview-info")
            assert "▀" in str(app.screen.query_one("#preview", Static).render())
            # Jobs: the exam's send job, committed; the exam's film; the exam's disc
            await pilot.press("4")
            await wait_until(pilot, lambda: len(app.state.send_jobs) == 1
                             and app.state.send_jobs[0].state == "committed", 15, "the send job")
            await pilot.pause()
            send = app.screen.query_one("#send", DataTable)
            assert f"{len(result.acquired)}/{len(result.acquired)}" in column(send, 2)[0]
            assert "committed" in column(send, 3)[0]
            assert column(app.screen.query_one("#print", DataTable), 3) == ["printed"]
            assert column(app.screen.query_one("#burn", DataTable), 3) == ["burned"]
            # Browser: the study in the store, with its counts; print and burn it again
            await pilot.press("3")
            await wait_until(pilot, lambda: bool(app.state.browser), 10, "the store")
            await pilot.pause()
            tree = app.screen.query_one("#store", Tree)
            patient = app.state.browser[0]
            assert patient.patient_id == wanted.patient_id and patient.instances == len(result.acquired)
            assert f"{len(result.acquired)} instances" in str(tree.root.children[0].label)
            films_before = len(hospital.printer.films)
            await pilot.press("p")
            await wait_until(pilot, lambda: "print" not in app.state.busy, 30, "the print")
            await pilot.press("b")
            await wait_until(pilot, lambda: len(app.state.burn_jobs) == 2
                             and app.state.burn_jobs[1].state not in ("queued", "burning"), 30, "the burn")
            await pilot.press("4")
            await wait_until(pilot, lambda: len(app.state.print_jobs) == 2, 10, "the print queue")
            await pilot.pause()
            assert column(app.screen.query_one("#print", DataTable), 3) == ["printed", "printed"]
            assert column(app.screen.query_one("#burn", DataTable), 3) == ["burned", "burned"]
            assert len(hospital.printer.films) > films_before
            # Log: the steps are there
            await pilot.press("6")
            await pilot.pause()
            assert any("commit: ok" in line for line in app.state.log)
            return result, wanted, [b.iso for b in app.state.burn_jobs]

    result, wanted, isos = asyncio.run(run_console())
    assert (result.patient["id"], result.patient["accession"]) == (wanted.patient_id, wanted.accession_number)
    assert hospital.pacs.holds(result.acquired)
    assert hospital.pacs.committed >= set(result.acquired)
    assert hospital.ris.steps[result.mpps_uid].status == "COMPLETED"
    assert all(Path(iso).stat().st_size > 0 for iso in isos)
    # the operator's TR is in the T1 SE object the PACS received; the object passes dciodvfy
    t1 = [p for p in (mr_session.data / "objects").rglob("*.dcm")
          if pydicom.dcmread(p, stop_before_pixels=True).SeriesDescription == "t1_se_tra"]
    assert len(t1) == 1
    ds = pydicom.dcmread(t1[0])
    assert [float(v) for v in values(ds, "RepetitionTime")] == [650.0]
    assert dciodvfy_errors(t1[0]) == []
    # the exam's events reached the app as messages, in order, through the bridge
    core = [m.event for m in messages if isinstance(m, CoreEvent)]
    started = [e.step for e in core if isinstance(e, ev.StepStarted)]
    assert started[0] == "worklist" and "commit" in started and started[-1] == "burn"
    assert isinstance(core[-1], ev.ExamFinished)
    assert any(isinstance(m, ExamDone) for m in messages)
    assert any(isinstance(m, PreviewReady) for m in messages)


def test_injected_film_jam_in_devices_and_the_print_queue(tmp_path) -> None:
    """syngo MR: FILM JAM injected -> Devices shows the product's message, its symbol and the
    serial status line; a print from the Browser stays queued and Jobs shows the camera's queue
    stopped with the message; cancel and retry the job; the jam cleared, resume prints it."""
    session = ConsoleSession.embedded("syngo-mr-xa11b", tmp_path / "hospital")
    hospital = session.hospital
    expected = react(session.profile.print, "FAILURE", "FILM JAM")
    assert expected.reaction == "queue_stopped" and expected.message
    item = session.worklist()[0]
    exam = session.run_exam(item, auto_print=False, burn=False)   # images in the store, headless
    assert exam.step("store").status == "ok"

    async def run_console() -> None:
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            await pilot.pause()
            assert app.current_mode == "devices"
            await wait_until(pilot, lambda: "NORMAL" in text_of(app, "#serial"), 5, "the status line")
            session.set_printer_status("FAILURE", "FILM JAM")
            await wait_until(pilot, lambda: expected.message in text_of(app, "#printer"), 5, "the message")
            assert "queue stopped" in text_of(app, "#printer")
            await wait_until(pilot, lambda: "FAILURE FILM JAM" in text_of(app, "#serial"), 5, "the line's status")
            # print from the Browser: the camera answers FAILURE, the queue stops, the job waits
            await pilot.press("3")
            await wait_until(pilot, lambda: bool(app.state.browser), 10, "the store")
            await pilot.press("p")
            await wait_until(pilot, lambda: "print" not in app.state.busy, 30, "the print attempt")
            await pilot.press("4")
            await wait_until(pilot, lambda: len(app.state.print_jobs) == 1 and app.state.cameras, 10, "the queue")
            await pilot.pause()
            prints = app.screen.query_one("#print", DataTable)
            assert column(prints, 3) == ["queued"]
            cameras = text_of(app, "#cameras")
            assert "stopped" in cameras and expected.message in cameras
            assert hospital.printer.films == []
            # cancel it, then bring it back (retry), both on the print table
            prints.focus()
            await pilot.press("c")
            await wait_until(pilot, lambda: app.state.print_jobs[0].state == "failed", 10, "the cancel")
            assert app.state.print_jobs[0].last_error == "cancelled by the operator"
            session.set_printer_status("NORMAL", "")
            await pilot.press("t")       # queued again, but the camera's queue is still stopped
            await wait_until(pilot, lambda: "print" not in app.state.busy, 30, "the retry")
            await wait_until(pilot, lambda: app.state.print_jobs[0].state == "queued", 10, "the retried job")
            await pilot.press("u")       # the operator resumes the camera's queue: it prints
            await wait_until(pilot, lambda: app.state.print_jobs and app.state.print_jobs[0].state == "printed",
                             30, "the print after resume")
            await pilot.pause()
            assert column(app.screen.query_one("#print", DataTable), 3) == ["printed"]
            assert "running" in text_of(app, "#cameras")
            assert len(hospital.printer.films) >= 1

    try:
        asyncio.run(run_console())
    finally:
        session.close()


@pytest.mark.parametrize("profile", ["syngo-ct-va50a"])
def test_printer_status_shows_the_products_message(profile: str, tmp_path) -> None:
    """A FILM JAM injected into the film camera shows the product's message and symbol in Devices,
    whether it comes from the app's thread or from another thread (call_from_thread); the nodes
    answer their check (the camera with the Printer N-GET: it offers no C-ECHO)."""
    session = ConsoleSession.embedded(profile, tmp_path / "hospital")
    expected = react(session.profile.print, "FAILURE", "FILM JAM")
    assert expected.message

    async def run_console() -> None:
        app = make_app(session, autoload=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
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
            await pilot.press("e")
            await wait_until(pilot, lambda: all(app.state.echo.get(n, ("…",))[0] != "…"
                                                for n in ("ris", "pacs", "printer")), 10, "the checks")
            assert app.state.echo["ris"][1] and app.state.echo["pacs"][1]
            assert app.state.echo["printer"][1] and "N-GET Printer NORMAL" in app.state.echo["printer"][0]
            nodes = app.screen.query_one("#nodes", DataTable)
            assert set(column(nodes, 0)) == set(session.nodes())

    try:
        asyncio.run(run_console())
    finally:
        session.close()


def test_send_failure_retry_and_burn_fault_retry(tmp_path) -> None:
    """The PACS is down: a send from the Browser fails, Jobs shows it failed; the PACS back,
    retry (t) sends and commits it. The burner's disc_full fault fails a burn; cleared, retry burns."""
    session = ConsoleSession.embedded("syngo-mr-xa11b", tmp_path / "hospital", max_wait=20)
    hospital = session.hospital
    exam = session.run_exam(session.worklist()[0], auto_print=False, burn=False)
    assert exam.ok or exam.step("send").status == "ok"

    async def run_console() -> None:
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("3")
            await wait_until(pilot, lambda: bool(app.state.browser), 10, "the store")
            hospital.pacs.go_down()
            await pilot.press("s")
            await wait_until(pilot, lambda: "send" not in app.state.busy, 30, "the send attempt")
            await pilot.press("4")
            await wait_until(pilot, lambda: app.state.send_jobs and app.state.send_jobs[-1].state == "failed", 10,
                             "the failed job")
            await pilot.pause()
            send = app.screen.query_one("#send", DataTable)
            assert "failed" in column(send, 3)[-1] and column(send, 5)[-1]
            hospital.pacs.come_up()
            send.focus()
            send.move_cursor(row=send.row_count - 1)
            await pilot.press("t")
            await wait_until(pilot, lambda: "send" not in app.state.busy, 30, "the retry")
            await wait_until(pilot, lambda: app.state.send_jobs[-1].state == "committed", 10, "the commitment")
            # burn with a full disc: failed with the reason; cleared; retried
            hospital.burner.set_error("disc_full")
            await pilot.press("3")
            await pilot.pause()
            await pilot.press("b")
            await wait_until(pilot, lambda: app.state.burn_jobs and app.state.burn_jobs[-1].state == "failed", 20,
                             "the failed burn")
            await pilot.press("4")
            await pilot.pause()
            burn = app.screen.query_one("#burn", DataTable)
            assert "failed" in column(burn, 3)[-1] and column(burn, 4)[-1]
            await pilot.press("5")  # Devices shows the drive's fault
            await wait_until(pilot, lambda: "fault disc_full" in str(app.screen.query_one("#burner").render()), 10,
                             "the burner's fault in Devices")
            await pilot.press("4")
            await pilot.pause()
            burn = app.screen.query_one("#burn", DataTable)
            hospital.burner.set_error(None)
            burn.focus()
            burn.move_cursor(row=burn.row_count - 1)
            await pilot.press("t")
            await wait_until(pilot, lambda: app.state.burn_jobs[-1].state == "burned", 20, "the burn")
            assert Path(app.state.burn_jobs[-1].iso).stat().st_size > 0

    try:
        asyncio.run(run_console())
    finally:
        session.close()


def test_register_an_unscheduled_patient(mr_session: ConsoleSession) -> None:
    """n: the form; the patient is scheduled at the embedded RIS and comes back in the worklist
    (a Modality Worklist C-FIND), ready to be selected."""

    async def run_console() -> None:
        app = make_app(mr_session)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.state.worklist is not None, 15, "the worklist")
            before = len(app.state.worklist)
            await pilot.press("n")
            await pilot.pause()
            for key, text in (("name", "Doe^Jane"), ("patient_id", "UNSCHED1"), ("birth_date", "1980"),
                              ("sex", "F"), ("procedure", "MR head unscheduled")):
                app.screen.query_one(f"#reg-{key}", Input).value = text
            app.screen.query_one("#reg-procedure", Input).focus()
            await pilot.press("enter")                           # a bad birth date: refused, said so
            await wait_until(pilot, lambda: any("YYYYMMDD" in line for line in app.state.log), 10, "the refusal")
            assert len(app.state.worklist) == before
            await pilot.press("n")
            await pilot.pause()
            for key, text in (("name", "Doe^Jane"), ("patient_id", "UNSCHED1"), ("birth_date", "19800101"),
                              ("sex", "F"), ("procedure", "MR head unscheduled")):
                app.screen.query_one(f"#reg-{key}", Input).value = text
            app.screen.query_one("#reg-procedure", Input).focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.state.worklist is not None and len(app.state.worklist) == before + 1,
                             15, "the new worklist entry")
            new = next(i for i in app.state.worklist if i.patient_id == "UNSCHED1")
            assert new.patient_name == "Doe^Jane" and new.requested_procedure_description == "MR head unscheduled"
            await pilot.pause()
            assert "Doe^Jane" in column(app.screen.query_one("#worklist", DataTable), 1)

    asyncio.run(run_console())


def test_command_palette_offers_the_console_actions(tmp_path) -> None:
    session = ConsoleSession.embedded("syngo-mr-xa11b", tmp_path / "hospital")

    async def run_console() -> None:
        app = make_app(session, autoload=False)
        async with app.run_test(size=SIZE) as pilot:
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for wanted in ("Start exam", "Stop exam", "Refresh worklist", "Register patient", "Reset parameters",
                           "Refresh browser", "Send selection", "Print selection", "Burn selection", "Refresh jobs",
                           "Retry job", "Cancel job", "Resume camera queue", "Echo all nodes", "Read status line",
                           "Show Patient", "Show Browser", "Show Devices"):
                assert wanted in titles
            # a command run from the palette: ctrl+p, its name, enter
            assert app.state.jobs_loaded_at is None
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"Refresh jobs")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await wait_until(pilot, lambda: app.state.jobs_loaded_at is not None, 10, "the palette's command")
            # the registration form, opened and closed
            await pilot.press("n")
            await pilot.pause()
            assert app.screen.query_one("#reg-name", Input).has_focus
            await pilot.press("escape")
            await pilot.pause()
            assert app.current_mode == "patient" and not app.screen.query("#reg-name")
            # starting without a selection does nothing but say so
            app.start_exam()
            await pilot.pause()
            assert not app.state.exam_running and app.state.exam_result is None
            await pilot.press("2")
            await pilot.pause()
            assert "no patient selected" in text_of(app, "#exam-patient")

    try:
        asyncio.run(run_console())
    finally:
        session.close()
