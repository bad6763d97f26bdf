"""Real peers for interop tests: DCMTK and dicom3tools binaries, free ports, `vscanner serve`.

Every server a test starts binds 127.0.0.1 on a free port, is started and stopped by a
fixture, and is waited for with a bounded loop. When ``CI=true`` a missing peer binary is a
test failure (CI installs them in .ci/run); elsewhere the test is skipped with a message
that says which Debian package to install.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PACKAGES = {
    "echoscu": "dcmtk",
    "storescu": "dcmtk",
    "storescp": "dcmtk",
    "findscu": "dcmtk",
    "movescu": "dcmtk",
    "getscu": "dcmtk",
    "dcmdump": "dcmtk",
    "dciodvfy": "dicom3tools",
    "wlmscpfs": "dcmtk",
    "dcmqrscp": "dcmtk",
    "dcmqridx": "dcmtk",
    "dump2dcm": "dcmtk",
    "dcmcrle": "dcmtk",
    "dcmcjpeg": "dcmtk",
    "dcmprscp": "dcmtk",
    "dcmprscu": "dcmtk",
    "dcmpsprt": "dcmtk",
    "Orthanc": "orthanc",
    "dcmmkdir": "dcmtk",
    "isoinfo": "genisoimage",
    "genisoimage": "genisoimage",
    "mcopy": "mtools",
    "mformat": "mtools",
}

# DCMTK (and Orthanc) keep Nagle's algorithm on unless this is set: ~45 ms per message.
PEER_ENV = {**os.environ, "TCP_NODELAY": "1"}


def _native(binary: str) -> str | None:
    """The first *binary* on PATH that is a compiled program.

    pynetdicom installs Python console scripts named like DCMTK's (storescu, echoscu,
    findscu ...) that can shadow the real ones on PATH; those are not a real peer.
    """
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / binary
        if candidate.is_file() and os.access(candidate, os.X_OK):
            with open(candidate, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    return str(candidate)
    return None


def missing_peer(message: str) -> None:
    """A real peer is not installed: a failure under CI (``.ci/run`` installs every peer), a
    skip with the install command on a developer's machine, never a silent pass."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)  # conditional: only outside CI, and says what to install


def require(binary: str) -> str:
    """Path of a peer *binary*; fail under CI, skip elsewhere, when it is missing."""
    path = _native(binary)
    if path:
        return path
    package = PACKAGES.get(binary, "?")
    missing_peer(f"{binary} not found: install the Debian package {package!r} (apt-get install -y {package})")
    raise AssertionError("unreachable")


def require_file(path: Path, package: str) -> Path:
    """A file a peer needs (a plugin, a config), with the same rule as :func:`require`."""
    if not path.exists():
        missing_peer(f"{path} missing: install the Debian package {package!r}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_log(path: Path, text: str, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    """Wait (bounded) until *text* appears in the log file *path*.

    Used instead of a TCP probe for our own server: a probe connection would occupy one
    of the product's few association slots until its ARTIM timer expires.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} not logged in {path} after {timeout} s")


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    """Wait (bounded) until something accepts TCP connections on 127.0.0.1:*port*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class PeerProcess:
    """A real peer (a DCMTK tool) in a subprocess on *port*, waited for with a bounded loop; its
    log is kept for failure reports. ``stop()`` terminates it (kill after 10 s)."""

    stop_timeout = 10.0  # seconds from SIGTERM to SIGKILL

    def __init__(self, cmd: list[str], log: Path, port: int, name: str = "", timeout: float = 20.0,
                 cwd: Path | None = None) -> None:
        self.port = port
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=PEER_ENV, cwd=cwd)
        try:
            wait_for_port(port, self.proc, timeout=timeout)
            self.ready(timeout)
        except Exception:
            self.stop()
            raise RuntimeError(f"{name or Path(cmd[0]).name} did not start:\n{self.log()}")

    def ready(self, timeout: float) -> None:
        """Further waiting once the port answers (a peer's REST API, say); none by default."""

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()


class ServeProcess:
    """`vscanner serve` in a subprocess; its log is kept for failure reports."""

    def __init__(self, profile: str, data: Path, aet: str, log: Path, extra: list[str] | None = None,
                 serve_args: list[str] | tuple[str, ...] = ()) -> None:
        self.profile = profile
        self.data = data
        self.aet = aet
        self.port = free_port()
        self.log_path = log
        self._log = open(log, "wb")
        cmd = [sys.executable, "-m", "appliance", *(extra or []), "serve", "--profile", profile,
               "--aet", aet, "--host", "127.0.0.1", "--port", str(self.port), "--data", str(data), *serve_args]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_log(log, f"on 127.0.0.1:{self.port} ", self.proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"vscanner serve did not start:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


def run(cmd: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run a peer command with TCP_NODELAY=1, bounded in time, capturing output."""
    return subprocess.run(cmd, env=PEER_ENV, capture_output=True, text=True, timeout=timeout)
