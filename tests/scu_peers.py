"""Real archives for the storage / commitment / queue tests: DCMTK storescp and Orthanc.

Each peer listens on a free port (storescp and Orthanc cannot bind 127.0.0.1 only: they
listen on 0.0.0.0; tests talk to them on 127.0.0.1), is waited for with a bounded loop,
stopped at teardown by its PID, and keeps its log, which the fixtures print when a test fails.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from pydicom import dcmread

from .peers import PeerProcess, free_port, require

# A storescp association profile accepting one transfer syntax per storage class (and
# Verification uncompressed): storescp then refuses every other syntax, so the sender must convert.
STORESCP_CFG = """\
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LittleEndianImplicit
[OnlyOne]
TransferSyntax1 = {name}
[[PresentationContexts]]
[OnlyOneContexts]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = MRImageStorage\\OnlyOne
PresentationContext3 = CTImageStorage\\OnlyOne
[[Profiles]]
[OnlyOne]
PresentationContexts = OnlyOneContexts
"""

# DCMTK names of transfer syntaxes (dcmtk/dcmdata/dcxfer.cc)
DCMTK_TS_NAMES = {
    "1.2.840.10008.1.2.5": "RLELossless",
    "1.2.840.10008.1.2.4.90": "JPEG2000LosslessOnly",
    "1.2.840.10008.1.2.4.80": "JPEGLSLossless",
    "1.2.840.10008.1.2": "LittleEndianImplicit",
}


class Storescp(PeerProcess):
    """DCMTK storescp writing every received instance to its own file (``+uf``: a second copy
    of the same instance gets a second file, so duplicates can be counted)."""

    def __init__(self, folder: Path, *, only_ts: str | None = None, extra: list[str] | None = None,
                 aet: str = "STORESCP", port: int | None = None) -> None:
        binary = require("storescp")
        self.folder = folder
        self.out = folder / "received"
        self.out.mkdir(parents=True, exist_ok=True)
        self.aet = aet
        port = port or free_port()
        cmd = [binary, "-v", "-aet", aet, "-od", str(self.out), "+uf", "-pdu", "131072"]
        if only_ts:
            cfg = folder / "storescp-only-one.cfg"
            cfg.write_text(STORESCP_CFG.format(name=DCMTK_TS_NAMES[only_ts]))
            cmd += ["-xf", str(cfg), "OnlyOne"]
        cmd += [*(extra or []), str(port)]
        super().__init__(cmd, folder / "storescp.log", port)

    @property
    def node(self) -> str:
        return f"{self.aet}@127.0.0.1:{self.port}"

    def files(self) -> list[Path]:
        return sorted(p for p in self.out.iterdir() if p.is_file())

    def received_uids(self) -> list[str]:
        """SOP Instance UIDs of every received file (a duplicate appears twice)."""
        return [str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in self.files()]


@pytest.fixture
def storescp(tmp_path, request):
    """Factory: ``storescp(only_ts=..., extra=[...], port=...)`` -> :class:`Storescp`; all are
    stopped at teardown (their logs printed when the test failed)."""
    started: list[Storescp] = []

    def start(**kw) -> Storescp:
        s = Storescp(tmp_path / f"storescp{len(started)}", **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
        if getattr(request.node, "rep_call_failed", False):
            print(s.log()[-5000:])


class Orthanc(PeerProcess):
    """Orthanc 1.10 as archive and Storage Commitment SCP (recipe: shared/docs/peers.md).

    The scanner is declared as modality ``vscanner`` (*scanner_aet* at 127.0.0.1:*scanner_port*)
    so that Orthanc sends N-EVENT-REPORTs there on a new association.
    """

    def __init__(self, folder: Path, scanner_aet: str, scanner_port: int, aet: str = "ORTHANC") -> None:
        binary = require("Orthanc")
        self.folder = folder
        self.aet = aet
        self.port = free_port()
        self.http_port = free_port()
        self.stop_timeout = 20.0  # Orthanc takes 2-3 s to stop
        db = folder / "orthanc-db"
        db.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "vscanner-test-pacs",
            "StorageDirectory": str(db),
            "IndexDirectory": str(db),
            "DicomAet": aet,
            "DicomPort": self.port,
            "HttpPort": self.http_port,
            "HttpServerEnabled": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "MaximumPduLength": 131072,
            "DicomModalities": {
                "vscanner": {"AET": scanner_aet, "Host": "127.0.0.1", "Port": scanner_port,
                             "AllowStorageCommitment": True},
            },
            "Plugins": [],
            "SaveJobs": False,
            "DeidentifyLogs": False,
        }
        self.config_path = folder / "orthanc.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        super().__init__([binary, "--verbose", str(self.config_path)], folder / "orthanc.log", self.port,
                         name="Orthanc", timeout=30, cwd=folder)

    @property
    def node(self) -> str:
        return f"{self.aet}@127.0.0.1:{self.port}"

    def ready(self, timeout: float) -> None:
        """Orthanc's REST API answers too."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.get("/system")
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("Orthanc's REST API did not answer")

    def get(self, path: str):  # type: ignore[no-untyped-def]
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as r:
            return json.loads(r.read())

    def instance_uids(self) -> set[str]:
        return {self.get(f"/instances/{i}")["MainDicomTags"]["SOPInstanceUID"] for i in self.get("/instances")}

