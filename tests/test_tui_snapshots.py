"""Snapshot tests of the console's screens: ``app.export_screenshot()`` (SVG) compared with the
files in ``tests/snapshots/``.

The content is made deterministic: the embedded hospital's schedule comes from a fixed seed,
the exam's pixels from a fixed seed, the console's clock is fixed, the terminal is 120 x 34.
What still changes from run to run is normalised before comparing: today's date (in dates
and accession numbers), the hospital's free ports, Rich's per-export SVG ids.

A screen that changes on purpose: look at the new SVG, then regenerate the files with
``VSCANNER_UPDATE_SNAPSHOTS=1 python3 -m pytest -q tests/test_tui_snapshots.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import pytest

pytest.importorskip("textual")

from appliance.tui.app import make_app  # noqa: E402
from appliance.tui.session import ConsoleSession  # noqa: E402

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("VSCANNER_UPDATE_SNAPSHOTS", "") not in ("", "0")
SIZE = (120, 34)
CLOCK = time.mktime((2026, 3, 2, 9, 30, 0, 0, 0, -1))  # the console's fixed "now" (local time)


def normalise(svg: str) -> str:
    today = dt.date.today()
    svg = re.sub(r"terminal-\d+", "terminal", svg)                      # Rich's per-export ids
    for text, fixed in ((today.strftime("%Y%m%d"), "20260302"), (today.strftime("%Y-%m-%d"), "2026-03-02")):
        svg = svg.replace(text, fixed)
    # accession numbers and step IDs of the RIS's schedule: A<yymmdd>nnnn, SPS<yymmdd>nnn
    svg = re.sub(rf"\b(A|SPS){today.strftime('%y%m%d')}(\d{{3,4}})\b", r"\g<1>260302\2", svg)
    svg = re.sub(r"(127\.0\.0\.1|localhost):\d{4,5}", r"\1:PORT", svg)  # the hospital's free ports
    return svg


async def wait_until(pilot: Any, condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.05)


async def settled(pilot: Any, app: Any, timeout: float = 10.0) -> str:
    """The screen once it stopped changing: two exports 0.1 s apart that are the same (a table
    computes its column widths after its rows arrive; on a busy machine that takes a moment)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        await pilot.pause(0.1)
        svg = normalise(app.export_screenshot())
        if svg == last or time.monotonic() > deadline:
            return svg
        last = svg


def check(name: str, svg: str, problems: list[str], out: Path) -> None:
    path = SNAPSHOTS / f"tui_{name}.svg"
    got = normalise(svg)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
        return
    if not path.exists():
        problems.append(f"{path.name}: no snapshot; make it with VSCANNER_UPDATE_SNAPSHOTS=1")
        return
    want = path.read_text(encoding="utf-8")
    if got != want:
        failed = out / f"tui_{name}.now.svg"
        failed.write_text(got, encoding="utf-8")
        problems.append(f"{path.name} differs: see {failed} (the screen as it is now); if the change is "
                        "meant, regenerate with VSCANNER_UPDATE_SNAPSHOTS=1")


def test_main_screens_match_their_snapshots(tmp_path) -> None:
    session = ConsoleSession.embedded("syngo-mr-xa11b", tmp_path / "hospital")
    try:
        # one exam, headless, before the console starts: the Browser and Jobs have content
        first = session.worklist()[0]
        exam = session.run_exam(first, "Head routine", seed=3)
        assert exam.ok, exam.table()
        problems: list[str] = []

        async def run_console() -> None:
            app = make_app(session, clock=lambda: CLOCK)
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(pilot, lambda: app.state.worklist is not None and app.state.browser is not None
                                 and app.state.jobs_loaded_at is not None, 15, "the first reads")
                await pilot.pause(0.2)
                check("patient", await settled(pilot, app), problems, tmp_path)
                await pilot.press("down", "enter")                      # the second entry, for the exam
                await pilot.press("down")                               # protocol "Head routine"
                await pilot.pause(0.2)
                assert app.state.protocol == "Head routine"
                key = next(p.key for p in session.parameters(app.current_protocol()) if p.label == "TE"
                           and p.series_description == "t2_tse_tra")
                assert app.set_parameter(key, "110")
                await pilot.pause(0.2)
                check("exam", await settled(pilot, app), problems, tmp_path)
                await pilot.press("3")
                await pilot.pause(0.3)
                check("browser", await settled(pilot, app), problems, tmp_path)
                await pilot.press("4")
                await wait_until(pilot, lambda: len(app.state.send_jobs) == 1, 10, "the jobs")
                await pilot.pause(0.3)
                check("jobs", await settled(pilot, app), problems, tmp_path)
                await pilot.press("5")
                await wait_until(pilot, lambda: app.state.status_line is not None, 10, "the status line")
                await pilot.pause(0.2)
                check("devices", await settled(pilot, app), problems, tmp_path)
                await pilot.press("6")
                await pilot.pause(0.2)
                check("log", await settled(pilot, app), problems, tmp_path)

        asyncio.run(run_console())
        assert not problems, "\n".join(problems)
    finally:
        session.close()
