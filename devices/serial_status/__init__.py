"""The camera status line: a film camera's status on a serial line, with pyserial.

Film cameras have a service/status port next to their DICOM interface. The emulated camera
(:class:`devices.printer.FilmPrinter`) speaks this line protocol on any pyserial port: a real
port (``/dev/ttyUSB0``), ``socket://host:port``, ``loop://``, one end of a pty pair (so a
terminal program - ``screen /dev/pts/7`` - or real hardware sees it), or ``camera://NAME``
(an in-process URL handler, :mod:`devices.serial_status.protocol_camera`). vscanner reads the
same line as the status source of a camera (``vscanner print --status-line URL``,
``vscanner printer status NAME --line URL``).

Line protocol (version 1)
-------------------------
ASCII, one message per line. The camera ends lines with CR LF; it accepts CR, LF or CR LF.
Keywords are case-insensitive; status values are sent upper case. Fields are separated by
one space; the last field (an info) may contain spaces.

Host -> camera (commands; each is answered):

``STATUS?``
    answered by ``STATUS <printer-status> <info>``
``SET <printer-status> [<info>]``
    set the camera status (``NORMAL``, ``WARNING`` or ``FAILURE`` and a Printer Status Info
    defined term, e.g. ``SET FAILURE FILM JAM``); answered ``OK``, then the status event
``SET <info>``
    the same with the printer status the camera's vocabulary gives that info
    (``SET SUPPLY EMPTY`` -> FAILURE); ``SET NORMAL`` clears every condition
``JOBS?``
    answered by one ``JOB`` line per print job, then ``END``
``CODES?``
    answered by one ``CODE <printer-status> <info>`` line per known info, then ``END``
``PING``
    answered ``PONG``

Camera -> host (events, unsolicited, whenever something changes):

``STATUS <printer-status> <info>``
    the camera status changed (also the answer to ``STATUS?``)
``JOB <print-job-uid> <execution-status> [<info>]``
    a print job changed (PENDING, PRINTING, DONE, FAILURE), with its Execution Status Info

Errors: ``ERR <text>`` (unknown command, bad status value). The protocol is stateless: a
host may connect at any time and ask ``STATUS?``.

Python side: :func:`open_port` opens any of the above (and ``"pty"``: a new pty pair, the
camera keeps the master and :attr:`CameraStatusLine.device` names the slave for the host);
:class:`CameraStatusLine` serves a camera on a port; :class:`CameraStatusClient` is the host
end (query, set, events).
"""

from __future__ import annotations

__all__ = [
    "CameraStatusLine",
    "CameraStatusClient",
    "StatusLineError",
    "open_port",
    "process_command",
    "parse_message",
    "format_status",
    "format_job",
    "register_camera",
    "unregister_camera",
    "camera_by_name",
    "VirtualCamera",
    "PRINTER_STATUSES",
    "PROTOCOL_VERSION",
]

from .line import (
    PRINTER_STATUSES,
    PROTOCOL_VERSION,
    CameraStatusClient,
    CameraStatusLine,
    StatusLineError,
    VirtualCamera,
    camera_by_name,
    format_job,
    format_status,
    open_port,
    parse_message,
    process_command,
    register_camera,
    unregister_camera,
)
