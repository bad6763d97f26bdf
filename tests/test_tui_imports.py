"""The headless core never imports Textual; only appliance.tui (and `vscanner tui` when it runs) does."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import appliance.workflow, appliance.net, appliance.store, appliance.jobs
import appliance.net.verification, appliance.net.worklist, appliance.printing, devices.hospital
import appliance.tui, appliance.tui.session          # the console's facade is Textual-free too
from appliance.cli import build_parser
build_parser()                                        # registers `vscanner tui` without importing Textual
bad = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print(" ".join(bad))
"""


def test_core_does_not_import_textual() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported Textual: {out.stdout.strip()}"


def test_tui_command_is_registered() -> None:
    out = subprocess.run([sys.executable, "-m", "appliance", "tui", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--embedded" in out.stdout and "--profile" in out.stdout
