"""The exam on a terminal: one line per step, a progress bar for long steps, notices, tables.

:class:`ConsoleReporter` is an exam event callback. On a terminal a running step shows a bar
(redrawn in place, at most 10 times a second); when output is a file or a pipe there are only
whole lines: one per finished step and one per notice, so logs stay readable.
"""

from __future__ import annotations

__all__ = ["ConsoleReporter", "profiles_table"]

import sys
import threading
import time
from typing import Any, TextIO

from . import events

_MARK = {"ok": "ok", "failed": "FAILED", "skipped": "skipped", "n/a": "n/a", "not available": "NOT AVAILABLE"}
_LEVEL = {"info": " ", "warning": "!", "error": "x"}


def _counts(counts: dict[str, int]) -> str:
    from .exam import format_counts

    return format_counts(counts)


class ConsoleReporter:
    """Write exam events to *stream* (default stdout).

    Parameters
    ----------
    stream : text stream
    tty : bool, optional
        Draw progress bars in place; default: whether *stream* is a terminal.
    notices : bool
        Print notices (retries, printer messages, time scaling).
    width : int
        Width of the progress line.
    """

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None, notices: bool = True,
                 width: int = 100) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.notices = notices
        self.width = width
        self._lock = threading.Lock()
        self._current: events.StepStarted | None = None
        self._drawn = False
        self._last_draw = 0.0

    def __call__(self, event: object) -> None:
        with self._lock:
            if isinstance(event, events.StepStarted):
                self._current = event
                if self.tty:
                    self._draw(f"{self._prefix(event.step)} {event.title} ...")
            elif isinstance(event, events.StepProgress):
                if self.tty and self._current is not None and event.total:
                    now = time.monotonic()
                    if now - self._last_draw >= 0.1 or event.done >= event.total:
                        self._last_draw = now
                        self._draw(self._bar(event))
            elif isinstance(event, events.StepFinished):
                self._clear()
                line = (f"{self._prefix(event.step)} {event.step:<13} {_MARK.get(event.status, event.status):<13} "
                        f"{event.duration:6.2f} s  {_counts(event.counts)}")
                if event.message and (event.status != "ok" or not event.counts):
                    msg = event.message if len(event.message) <= 110 else event.message[:107] + "..."
                    line += f"  -- {msg}" if event.counts else f"  {msg}"
                self._write(line.rstrip())
                self._current = None
            elif isinstance(event, events.Notice) and self.notices:
                self._clear()
                self._write(f"{'':7} {_LEVEL.get(event.level, ' ')} {event.message}")
                if self.tty and self._current is not None:
                    self._draw(f"{self._prefix(self._current.step)} {self._current.title} ...")

    def _prefix(self, step: str) -> str:
        cur = self._current
        if cur is not None and cur.step == step:
            return f"[{cur.index:>2}/{cur.total}]"
        from .exam import STEPS

        return f"[{STEPS.index(step) + 1:>2}/{len(STEPS)}]" if step in STEPS else "[  /  ]"

    def _bar(self, ev: events.StepProgress) -> str:
        cur = self._current
        assert cur is not None
        n = 24
        filled = int(n * min(ev.done, ev.total) / ev.total)
        detail = ev.detail if len(ev.detail) <= 30 else ev.detail[:27] + "..."
        return f"{self._prefix(cur.step)} {cur.step:<13} [{'#' * filled}{'.' * (n - filled)}] {ev.done}/{ev.total} {detail}"

    def _draw(self, text: str) -> None:
        text = text[: self.width]
        self.stream.write("\r" + text.ljust(self.width if self._drawn else len(text)))
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self.width + "\r")
            self._drawn = False

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            self._clear()


def profiles_table(results: list[tuple[str, Any, float]]) -> str:
    """One line per profile: outcome, wall time, instances sent / committed, films, ISO."""
    rows = [("profile", "outcome", "time", "acquired", "sent", "committed", "films", "disc")]
    for pid, r, seconds in results:
        rows.append((pid, r.outcome if r is not None else "error", f"{seconds:.1f} s",
                     str(len(r.acquired)) if r else "-", str(len(r.sent)) if r else "-",
                     str(len(r.committed)) if r else "-", str(r.films) if r else "-",
                     "yes" if r is not None and r.iso else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for i, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            out.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    return "\n".join(out)
