"""pyserial URL handler ``camera://NAME[?status=FAILURE&info=FILM+JAM]``: an in-process camera line.

``serial.serial_for_url("camera://CAMERA")`` (after ``devices.serial_status`` is on
``serial.protocol_handler_packages``, which :func:`devices.serial_status.open_port` ensures)
returns a port that behaves like the host end of a camera status line: what is written is
processed as commands by the camera registered under NAME (a
:class:`devices.printer.FilmPrinter` registers itself under its AE title; an unknown NAME gets a
:class:`~devices.serial_status.VirtualCamera`), and answers and status events are read back.
The query options set the camera's status when the port opens.
"""

from __future__ import annotations

import queue
import urllib.parse

from serial.serialutil import SerialException
from serial.urlhandler import protocol_loop

from .line import _LineReader, camera_by_name, process_command


class Serial(protocol_loop.Serial):
    """The host end of the status line of an in-process camera."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._camera = None
        self._reader = _LineReader()
        self._deferred: list[str] | None = None
        super().__init__(*args, **kwargs)

    def from_url(self, url: str) -> None:  # called by open()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() != "camera":
            raise SerialException(f"expected camera://NAME[?status=...&info=...], got {url!r}")
        name = (parts.netloc or parts.path.strip("/") or "CAMERA")
        options = urllib.parse.parse_qs(parts.query)
        unknown = set(options) - {"status", "info"}
        if unknown:
            raise SerialException(f"camera:// options are status and info, not {sorted(unknown)}")
        self._camera = camera_by_name(name)
        if "status" in options or "info" in options:
            try:
                self._camera.set_status(options.get("status", ["FAILURE"])[0], options.get("info", [""])[0])
            except ValueError as exc:
                raise SerialException(str(exc)) from None

    def open(self) -> None:
        super().open()
        self._camera.add_listener(self._deliver)

    def close(self) -> None:
        if self._camera is not None:
            self._camera.remove_listener(self._deliver)
        super().close()

    def _deliver(self, line: str) -> None:
        if not self.is_open:
            return
        if self._deferred is not None:  # an event raised by our own command: after its answer
            self._deferred.append(line)
            return
        self._put(line)

    def _put(self, line: str) -> None:
        for byte in (line + "\r\n").encode("ascii", "replace"):
            try:
                self.queue.put_nowait(bytes([byte]))
            except queue.Full:  # nobody reads: drop, as a real line would overrun
                return

    def write(self, data):  # type: ignore[no-untyped-def]
        if not self.is_open:
            from serial.serialutil import PortNotOpenError

            raise PortNotOpenError()
        data = bytes(data)
        for line in self._reader.feed(data):
            self._deferred = []
            try:
                answers = process_command(self._camera, line)
            finally:
                events, self._deferred = self._deferred, None
            for answer in answers + events:
                self._put(answer)
        return len(data)
