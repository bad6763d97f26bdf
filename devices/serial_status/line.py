"""Implementation of the camera status line protocol (see the package docstring).

Transport and parsing are separate, as in ``serial.threaded``: a *port* is anything with
``read(n)`` (returning what arrived within its timeout), ``write(bytes)`` and ``close()`` - a
pyserial ``Serial`` or :class:`FdPort` around a raw file descriptor (the master end of a pty).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import tty
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from appliance.errors import VScannerError

LOGGER = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
PRINTER_STATUSES = ("NORMAL", "WARNING", "FAILURE")
HANDLER_PACKAGE = "devices.serial_status"


class StatusLineError(VScannerError):
    """The camera status line cannot be opened, or the camera answered with an error."""


class Camera(Protocol):
    """What the line needs from a camera (FilmPrinter and VirtualCamera provide it)."""

    def get_status(self) -> tuple[str, str]: ...
    def set_status(self, printer_status: str, info: str = "") -> None: ...
    def job_lines(self) -> list[str]: ...
    def vocabulary(self) -> dict[str, str]: ...
    def add_listener(self, fn: Callable[[str], None]) -> None: ...
    def remove_listener(self, fn: Callable[[str], None]) -> None: ...


# --- messages ---------------------------------------------------------------------------------


def format_status(printer_status: str, info: str) -> str:
    return f"STATUS {printer_status} {info}".rstrip()


def format_job(uid: str, execution_status: str, info: str = "") -> str:
    return f"JOB {uid} {execution_status} {info}".rstrip()


@dataclass(frozen=True)
class Message:
    kind: str          # STATUS, JOB, OK, ERR, PONG, END, CODE, or the command (STATUS?, SET ...)
    fields: tuple[str, ...]
    text: str


def parse_message(line: str) -> Message:
    """Split a received line into keyword and fields (the info field keeps its spaces)."""
    text = line.strip()
    if not text:
        return Message("", (), "")
    head, _, rest = text.partition(" ")
    kind = head.upper()
    rest = rest.strip()
    if kind in ("STATUS", "CODE"):
        status, _, info = rest.partition(" ")
        return Message(kind, (status.upper(), " ".join(info.split()).upper()), text)
    if kind == "JOB":
        uid, _, more = rest.partition(" ")
        status, _, info = more.strip().partition(" ")
        return Message(kind, (uid, status.upper(), " ".join(info.split())), text)
    return Message(kind, tuple(rest.split()) if rest else (), text)


def process_command(camera: Camera, line: str) -> list[str]:
    """The camera's answer lines to one command line (an event follows a SET via listeners)."""
    text = " ".join(line.strip().split())
    if not text:
        return []
    upper = text.upper()
    head = upper.split(" ", 1)[0]
    if head in ("OK", "ERR", "PONG", "END", "CODE", "JOB") or (head == "STATUS" and upper != "STATUS"):
        return []  # a camera message (our own echo on loop://, or another camera): not a command
    if upper in ("STATUS?", "STATUS"):
        return [format_status(*camera.get_status())]
    if upper == "PING":
        return ["PONG"]
    if upper == "JOBS?":
        return [*camera.job_lines(), "END"]
    if upper == "CODES?":
        return [f"CODE {status} {info}" for info, status in sorted(camera.vocabulary().items())] + ["END"]
    if upper.startswith("SET "):
        rest = upper[4:].strip()
        head, _, info = rest.partition(" ")
        try:
            if head in PRINTER_STATUSES and (info or head != "NORMAL"):
                camera.set_status(head, info)
            elif head == "NORMAL" and not info:
                camera.set_status("NORMAL", "NORMAL")
            else:
                status = camera.vocabulary().get(rest)
                if status is None:
                    return [f"ERR unknown status info {rest!r}: give SET <NORMAL|WARNING|FAILURE> <info>"]
                camera.set_status(status, rest)
        except (ValueError, VScannerError) as exc:
            return [f"ERR {exc}"]
        return ["OK"]
    return [f"ERR unknown command {text!r} (STATUS?, SET, JOBS?, CODES?, PING)"]


# --- ports ------------------------------------------------------------------------------------


class FdPort:
    """A raw file descriptor (e.g. a pty master) with pyserial's read/write/close semantics."""

    def __init__(self, fd: int, timeout: float = 0.1, *, owns: bool = True) -> None:
        self.fd = fd
        self.timeout = timeout
        self._owns = owns
        self.is_open = True

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            return b""
        try:
            ready, _, _ = select.select([self.fd], [], [], self.timeout)
        except (OSError, ValueError):
            return b""
        if not ready:
            return b""
        try:
            return os.read(self.fd, max(1, size))
        except OSError:  # the other end of the pty was closed (EIO)
            time.sleep(self.timeout)
            return b""

    def write(self, data: bytes) -> int:
        """Write what the other end can take within the timeout; the rest is dropped (a pty
        nobody reads must not block the camera)."""
        sent = 0
        deadline = time.monotonic() + self.timeout
        while sent < len(data):
            try:
                _, ready, _ = select.select([], [self.fd], [], max(0.0, deadline - time.monotonic()))
            except (OSError, ValueError):
                break
            if not ready:
                LOGGER.debug("status line: %d bytes dropped (nobody reads the other end)", len(data) - sent)
                break
            try:
                sent += os.write(self.fd, data[sent:])
            except BlockingIOError:
                continue
            except OSError:
                break
        return sent

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            if self._owns:
                os.close(self.fd)


def _register_handlers() -> None:
    import serial

    if HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(HANDLER_PACKAGE)


def open_port(spec: Any, *, timeout: float = 0.1, baudrate: int = 9600) -> tuple[Any, str | None]:
    """Open a status line: returns (port, device path for the other end or None).

    *spec*: an open port object (returned as is); an int file descriptor; ``"pty"`` (a new pty
    pair: the master is returned, the slave's path is the second value); a pyserial URL or
    device path (``loop://``, ``socket://host:port``, ``camera://NAME``, ``/dev/ttyS0``).
    """
    if spec is None:
        raise StatusLineError("no status line given", "give a serial device, a pyserial URL or 'pty'")
    if hasattr(spec, "read") and hasattr(spec, "write"):
        return spec, None
    if isinstance(spec, int):
        return FdPort(spec, timeout, owns=False), None
    text = str(spec)
    if text == "pty":
        master, slave = os.openpty()
        os.set_blocking(master, False)
        tty.setraw(slave)  # no echo, no line editing: the host sees the bytes as sent
        path = os.ttyname(slave)
        port = FdPort(master, timeout)
        port._slave = slave  # type: ignore[attr-defined]  # kept open so the master never sees EIO
        return port, path
    import serial

    _register_handlers()
    try:
        return serial.serial_for_url(text, timeout=timeout, baudrate=baudrate, write_timeout=0.5), None
    except (serial.SerialException, ValueError, OSError) as exc:
        raise StatusLineError(f"cannot open the camera status line {text!r}: {exc}",
                              "give a serial device (/dev/ttyUSB0), a pty path, or a pyserial URL "
                              "(socket://host:port, loop://, camera://NAME)") from None


def _close_port(port: Any) -> None:
    slave = getattr(port, "_slave", None)
    try:
        port.close()
    except Exception:
        pass
    if slave is not None:
        try:
            os.close(slave)
        except OSError:
            pass


class _LineReader:
    """Accumulates bytes and yields complete lines (CR, LF or CR LF terminated)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self._buf += data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = []
        while b"\n" in self._buf:
            raw, _, rest = bytes(self._buf).partition(b"\n")
            self._buf = bytearray(rest)
            lines.append(raw.decode("ascii", "replace"))
        return lines


# --- camera side --------------------------------------------------------------------------------


class CameraStatusLine:
    """Serve *camera*'s status on a port: answer commands, send status and job events.

    Parameters
    ----------
    camera : object with get_status/set_status/job_lines/vocabulary/add_listener
    spec : anything :func:`open_port` takes (``"pty"`` creates a pty pair; see :attr:`device`)
    """

    def __init__(self, camera: Camera, spec: Any, *, timeout: float = 0.1) -> None:
        self.camera = camera
        self.port, self.device = open_port(spec, timeout=timeout)
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._deferred: list[str] | None = None  # events raised by a command: sent after its answer
        self._thread = threading.Thread(target=self._run, daemon=True, name="camera-status-line")
        self.camera.add_listener(self.send)
        self._thread.start()
        LOGGER.info("camera status line on %s", self.device or spec)

    def send(self, line: str) -> None:
        if self._deferred is not None and threading.current_thread() is self._thread:
            self._deferred.append(line)
            return
        self._write(line)

    def _write(self, line: str) -> None:
        with self._write_lock:
            try:
                self.port.write((line + "\r\n").encode("ascii", "replace"))
                if hasattr(self.port, "flush"):
                    self.port.flush()
            except Exception as exc:  # a closed or unplugged line must not break the camera
                LOGGER.debug("status line write failed: %s", exc)

    def _run(self) -> None:
        reader = _LineReader()
        while not self._stop.is_set():
            try:
                data = self.port.read(256)
            except Exception as exc:
                LOGGER.debug("status line read failed: %s", exc)
                if self._stop.wait(0.1):
                    break
                continue
            if not data:
                continue
            for line in reader.feed(data):
                self._deferred = []
                try:
                    answers = process_command(self.camera, line)
                finally:
                    events, self._deferred = self._deferred, None
                for answer in answers + events:
                    self._write(answer)

    def close(self) -> None:
        self._stop.set()
        self.camera.remove_listener(self.send)
        self._thread.join(timeout=2)
        _close_port(self.port)


# --- host side ----------------------------------------------------------------------------------


class CameraStatusClient:
    """The host end of a camera status line: query and set the status, collect events."""

    def __init__(self, spec: Any, *, timeout: float = 0.1) -> None:
        self.port, _ = open_port(spec, timeout=timeout)
        self._reader = _LineReader()
        self._pending: list[str] = []
        self.events: list[Message] = []

    def __enter__(self) -> "CameraStatusClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        _close_port(self.port)

    def _send(self, line: str) -> None:
        self.port.write((line + "\r\n").encode("ascii"))
        if hasattr(self.port, "flush"):
            self.port.flush()

    def read_message(self, timeout: float = 2.0) -> Message | None:
        """The next line from the camera (None after *timeout* seconds)."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            if time.monotonic() >= deadline:
                return None
            data = self.port.read(256)
            if data:
                self._pending.extend(l for l in self._reader.feed(data) if l.strip())
        return parse_message(self._pending.pop(0))

    def _wait(self, kinds: Iterable[str], timeout: float) -> Message:
        wanted = set(kinds)
        deadline = time.monotonic() + timeout
        while True:
            msg = self.read_message(max(0.0, deadline - time.monotonic()))
            if msg is None:
                raise StatusLineError(f"the camera did not answer on the status line within {timeout} s",
                                      "check the line (device, URL, cable) and that the camera runs")
            if msg.kind == "ERR":
                raise StatusLineError(f"the camera answered: {msg.text}", "see the line protocol in "
                                      "devices/serial_status/__init__.py")
            if msg.kind in ("STATUS", "JOB"):
                self.events.append(msg)
            if msg.kind in wanted:
                return msg

    def query(self, timeout: float = 2.0) -> tuple[str, str]:
        """``STATUS?``: (printer status, printer status info)."""
        self._send("STATUS?")
        msg = self._wait(["STATUS"], timeout)
        return msg.fields[0], msg.fields[1]

    def set(self, printer_status: str | None, info: str = "", timeout: float = 2.0) -> None:
        """``SET``: change the camera's status (printer_status None: from its vocabulary)."""
        text = " ".join(x for x in ((printer_status or "").upper(), " ".join(info.upper().split())) if x)
        self._send(f"SET {text}")
        self._wait(["OK"], timeout)

    def ping(self, timeout: float = 2.0) -> bool:
        self._send("PING")
        return self._wait(["PONG"], timeout).kind == "PONG"


# --- in-process cameras (camera:// URLs) --------------------------------------------------------

_CAMERAS: dict[str, Camera] = {}
_CAMERAS_LOCK = threading.Lock()


def register_camera(name: str, camera: Camera) -> None:
    """Make *camera* reachable as ``camera://<name>`` in this process."""
    with _CAMERAS_LOCK:
        _CAMERAS[name.upper()] = camera


def unregister_camera(name: str, camera: Camera | None = None) -> None:
    with _CAMERAS_LOCK:
        if camera is None or _CAMERAS.get(name.upper()) is camera:
            _CAMERAS.pop(name.upper(), None)


def camera_by_name(name: str, *, create: bool = True) -> Camera | None:
    """The camera registered as *name*; a new :class:`VirtualCamera` when none is (and *create*)."""
    with _CAMERAS_LOCK:
        cam = _CAMERAS.get(name.upper())
        if cam is None and create:
            cam = VirtualCamera(name)
            _CAMERAS[name.upper()] = cam
        return cam


class VirtualCamera:
    """A camera that is only a status (for ``camera://NAME`` without a FilmPrinter behind it)."""

    def __init__(self, name: str = "CAMERA", status: str = "NORMAL", info: str = "NORMAL") -> None:
        self.name = name
        self._status = (status, info)
        self._listeners: list[Callable[[str], None]] = []
        self._lock = threading.Lock()

    def get_status(self) -> tuple[str, str]:
        return self._status

    def set_status(self, printer_status: str, info: str = "") -> None:
        from appliance.printing.status import default_info  # the shared vocabulary

        status = printer_status.upper()
        if status not in PRINTER_STATUSES:
            raise ValueError(f"printer status {printer_status!r} is not NORMAL, WARNING or FAILURE")
        info = " ".join(info.upper().split()) or default_info(status)
        self._status = (status, info)
        for fn in list(self._listeners):
            fn(format_status(status, info))

    def job_lines(self) -> list[str]:
        return []

    def vocabulary(self) -> dict[str, str]:
        from appliance.printing.status import status_vocabulary

        return status_vocabulary()

    def add_listener(self, fn: Callable[[str], None]) -> None:
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)
