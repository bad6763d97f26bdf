"""Core callback events -> Textual messages, posted thread-safely.

The exam calls its ``on_event`` callback in its own thread (and in the threads of a storage
commitment report, the film camera, the burner); the console's devices call theirs in theirs.
:class:`EventBridge` is such a callback: it wraps each event in a :class:`CoreEvent` (or a
:class:`DeviceChanged`) message and posts it to the app - through ``app.call_from_thread``
from another thread, directly from the app's own thread (a test that injects a printer
status from the pilot's coroutine). After :meth:`EventBridge.close` (the app is exiting)
events are dropped, so a worker thread never waits on a loop that has stopped.
"""

from __future__ import annotations

__all__ = ["CoreEvent", "DeviceChanged", "WorklistLoaded", "JobsLoaded", "EchoDone", "ExamDone", "EventBridge",
           "event_line", "PreviewReady", "BrowserLoaded", "ActionDone", "JobsChanged", "StatusLineRead"]

import threading
from typing import Any

from textual.app import App
from textual.message import Message

from ..workflow.events import StepProgress


class CoreEvent(Message):
    """One event of :mod:`appliance.workflow.events` (StepStarted, StepProgress, ...)."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # queued progress of the same step merges: only the latest counts
        return (isinstance(message, CoreEvent) and isinstance(self.event, StepProgress)
                and isinstance(message.event, StepProgress) and message.event.step == self.event.step)


class DeviceChanged(Message):
    """The film camera or the burner changed (``device`` is ``"printer"`` or ``"burner"``)."""

    def __init__(self, device: str, text: str) -> None:
        super().__init__()
        self.device = device
        self.text = text


class WorklistLoaded(Message):
    def __init__(self, items: list[Any] | None, error: str = "") -> None:
        super().__init__()
        self.items = items
        self.error = error


class JobsLoaded(Message):
    """The queues read: send jobs, print jobs and cameras, burn jobs."""

    def __init__(self, send: list[Any], prints: list[Any], cameras: list[Any], burns: list[Any],
                 error: str = "") -> None:
        super().__init__()
        self.send = send
        self.prints = prints
        self.cameras = cameras
        self.burns = burns
        self.error = error


class JobsChanged(Message):
    """A queue changed (an instance sent, a burn progressed): read the queues again."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsChanged)


class PreviewReady(Message):
    """A slice of the running exam to show: a grey uint8 array and its caption."""

    def __init__(self, image: Any, caption: str, done: int, total: int) -> None:
        super().__init__()
        self.image = image
        self.caption = caption
        self.done = done
        self.total = total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PreviewReady)


class BrowserLoaded(Message):
    def __init__(self, patients: list[Any] | None, error: str = "") -> None:
        super().__init__()
        self.patients = patients
        self.error = error


class ActionDone(Message):
    """A send, print, burn or queue action ended (``ok`` False: it failed, *text* says why)."""

    def __init__(self, kind: str, text: str, ok: bool = True) -> None:
        super().__init__()
        self.kind = kind
        self.text = text
        self.ok = ok


class StatusLineRead(Message):
    def __init__(self, text: str, ok: bool = True) -> None:
        super().__init__()
        self.text = text
        self.ok = ok


class EchoDone(Message):
    def __init__(self, name: str, text: str, ok: bool) -> None:
        super().__init__()
        self.name = name
        self.text = text
        self.ok = ok


class ExamDone(Message):
    """The exam worker ended: its result, or why it could not run."""

    def __init__(self, result: Any, error: str = "") -> None:
        super().__init__()
        self.result = result
        self.error = error


class EventBridge:
    """A core callback that posts Textual messages to *app*, from any thread."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._closed = False

    def close(self) -> None:
        self._closed = True

    def post(self, message: Message) -> None:
        if self._closed:
            return
        app = self.app
        if getattr(app, "_thread_id", None) == threading.get_ident():
            app.post_message(message)
            return
        try:
            app.call_from_thread(app.post_message, message)
        except RuntimeError:  # the app is not running (any more)
            pass

    # the exam's on_event
    def __call__(self, event: object) -> None:
        self.post(CoreEvent(event))

    # ConsoleSession.watch_devices
    def device(self, device: str, text: str) -> None:
        self.post(DeviceChanged(device, text))


def event_line(event: object) -> str:
    """One log line for a core event (the same facts the CLI's step lines show)."""
    from ..workflow import events as ev

    if isinstance(event, ev.StepStarted):
        return f"[{event.index}/{event.total}] {event.step}: {event.title} ..."
    if isinstance(event, ev.StepFinished):
        counts = ", ".join(f"{v} {k}" for k, v in event.counts.items())
        return f"{event.step}: {event.status} in {event.duration:.2f} s" + (f" ({counts})" if counts else "") + (
            f" - {event.message}" if event.message else "")
    if isinstance(event, ev.Notice):
        return f"{event.level.upper()} {event.step}: {event.message}"
    if isinstance(event, ev.StateChanged):
        return f"state {event.old} -> {event.new}"
    if isinstance(event, ev.StepProgress):
        return f"{event.step}: {event.done}/{event.total} {event.detail}".rstrip()
    if isinstance(event, ev.ExamFinished):
        r = event.result
        return f"exam finished: {r.outcome or r.state} in {r.duration:.2f} s"
    return repr(event)
