#!/usr/bin/env python3
"""Screenshots (SVG) of every console screen, driven like an operator in the embedded hospital.

    python scripts/tui_screenshots.py [--profile syngo-mr-xa11b] [--out images] [--size 120x34]

Writes ``tui_patient.svg`` (the worklist), ``tui_exam.svg`` (an exam with an edited TE, its
steps and the live preview of the last stored slice), ``tui_browser.svg`` (the store),
``tui_devices.svg`` (a FILM JAM injected into the film camera: the product's message, the
serial status line), ``tui_jobs.svg`` (a print from the Browser waiting in the camera's stopped
queue, the exam's send and disc) and ``tui_log.svg``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.tui.app import make_app  # noqa: E402
from appliance.tui.session import ConsoleSession  # noqa: E402


async def shoot(session: ConsoleSession, out: Path, size: tuple[int, int]) -> list[Path]:
    app = make_app(session)
    written: list[Path] = []

    async def wait(condition, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            await pilot.pause(0.05)

    async def save(name: str) -> None:
        app.clear_notifications()
        await pilot.pause(0.3)
        written.append(Path(app.save_screenshot(f"tui_{name}.svg", str(out))))

    async with app.run_test(size=size) as pilot:
        await wait(lambda: app.state.worklist is not None, 15)
        await save("patient")
        await pilot.press("enter")                       # the first worklist entry
        await pilot.press("down")                        # its first protocol
        await pilot.pause(0.2)
        protocol = app.current_protocol()
        if protocol is not None:
            params = session.parameters(protocol)
            te = [p for p in params if p.label == "TE"]
            if te:                                       # MR: a longer TE on the last series
                app.set_parameter(te[-1].key, f"{te[-1].value * 1.2:g}")
        await pilot.press("s")
        await wait(lambda: app.state.exam_result is not None or bool(app.state.exam_error), 60)
        await save("exam")
        await pilot.press("3")
        await wait(lambda: bool(app.state.browser), 10)
        await save("browser")
        session.set_printer_status("FAILURE", "FILM JAM")
        await pilot.press("p")                           # print the patient: the camera's queue stops
        await wait(lambda: "print" not in app.state.busy, 30)
        await pilot.press("5")
        await pilot.press("e")
        await wait(lambda: all(t != "…" for t, _ok in app.state.echo.values()), 10)
        await wait(lambda: app.state.status_line is not None and "FAILURE" in app.state.status_line[0], 5)
        await save("devices")
        await pilot.press("4")
        await wait(lambda: bool(app.state.print_jobs), 10)
        app.screen.query_one("#print").focus()
        await save("jobs")
        await pilot.press("6")
        await save("log")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="syngo-mr-xa11b")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "images"))
    parser.add_argument("--size", default="120x34", help="terminal columns x rows")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    cols, rows = (int(v) for v in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vscanner-shots-") as tmp:
        with ConsoleSession.embedded(args.profile, Path(tmp) / "hospital") as session:
            for path in asyncio.run(shoot(session, out, (cols, rows))):
                print(f"{path}  {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
