#!/usr/bin/env python3
"""Screenshots (SVG) of every console screen after one exam in the embedded hospital.

    python scripts/tui_screenshots.py [--profile syngo-mr-xa11b] [--out images]

Writes ``tui_patient.svg``, ``tui_exam.svg``, ``tui_jobs.svg``, ``tui_devices.svg`` (with a
FILM JAM injected into the film camera) and ``tui_log.svg``.
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

    def save(name: str) -> None:
        written.append(Path(app.save_screenshot(f"tui_{name}.svg", str(out))))

    async with app.run_test(size=size) as pilot:
        await wait(lambda: app.state.worklist is not None, 15)
        await pilot.pause(0.3)
        save("patient")
        await pilot.press("enter")
        await pilot.press("s")
        await wait(lambda: app.state.exam_result is not None or bool(app.state.exam_error), 60)
        await pilot.pause(0.5)
        app.clear_notifications()
        await pilot.pause(0.2)
        save("exam")
        await pilot.press("3")
        await wait(lambda: bool(app.state.jobs) and all(i.state == "committed" for i in app.state.jobs), 10)
        await pilot.pause(0.3)
        save("jobs")
        await pilot.press("4")
        await pilot.press("e")
        await wait(lambda: all(t != "…" for t, _ok in app.state.echo.values()), 10)
        session.set_printer_status("FAILURE", "FILM JAM")
        await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause(0.2)
        save("devices")
        await pilot.press("5")
        await pilot.pause(0.3)
        save("log")
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
