"""The Exam screen's editable parameters, through the console's session: CT kVp / mAs / kernel and
PET dose / uptake reach the objects the acquisition makes (the same Protocol value the exam
acquires), which pass dciodvfy; bad values are refused with what to give instead."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pydicom
import pytest

from acquisition import acquire
from acquisition.engine import Limits
from appliance.config import SiteConfig
from appliance.errors import UsageError
from appliance.tui.session import ConsoleSession

from .peers import require, run

SMALL = Limits(max_matrix=64, max_slices=4, max_frames=2)   # as an exam acquires (small_limits)
WHEN = dt.datetime(2026, 3, 2, 9, 30)


def values(ds, keyword):
    return [e.value for e in ds.iterall() if e.keyword == keyword]


def dciodvfy_errors(path: Path) -> list[str]:
    result = run([require("dciodvfy"), str(path)])
    lines = (result.stdout + result.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error") or " - Error - " in ln]


def edit(session: ConsoleSession, protocol, kind: str, label: str, text: str):
    param = next(p for p in session.parameters(protocol) if p.kind == kind and p.label == label)
    return session.edit_parameter(protocol, param.key, text), param


def test_ct_kvp_mas_kernel_reach_the_images(tmp_path) -> None:
    session = ConsoleSession("syngo-ct-va50a", SiteConfig())
    protocol = session.protocol("Head routine")
    kernels = session.kernels()
    assert len(kernels) >= 2
    param = next(p for p in session.parameters(protocol) if p.label == "kernel" and p.series > 0)
    other = next(k for k in kernels if k != param.value)
    protocol = session.edit_parameter(protocol, param.key, other.lower())       # case-insensitive choice
    series = param.series
    kvp = next(p for p in session.parameters(protocol) if p.series == series and p.label == "kVp")
    mas = next(p for p in session.parameters(protocol) if p.series == series and p.label == "mAs")
    protocol = session.edit_parameter(protocol, kvp.key, "100")
    protocol = session.edit_parameter(protocol, mas.key, "250")
    edited = [p for p in session.parameters(protocol) if p.edited]
    assert {p.label for p in edited} == {"kernel", "kVp", "mAs"}
    with pytest.raises(UsageError, match="not a kernel"):
        session.edit_parameter(protocol, param.key, "Zz99")
    with pytest.raises(UsageError, match="out of range"):
        session.edit_parameter(protocol, kvp.key, "300")
    with pytest.raises(UsageError, match="not a number"):
        session.edit_parameter(protocol, mas.key, "lots")
    acq = acquire(session.profile, protocol, seed=5, when=WHEN, limits=SMALL)
    description = protocol.series[series].description
    result = next(s for s in acq.series if s.spec.description == description)
    ds = result.datasets[0]
    assert [float(v) for v in values(ds, "KVP")] and {float(v) for v in values(ds, "KVP")} == {100.0}
    kernels_written = [v for v in values(ds, "ConvolutionKernel")]
    assert kernels_written and all(other in (list(v) if isinstance(v, pydicom.multival.MultiValue) else [v])
                                   for v in kernels_written)
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []


def test_pet_dose_and_uptake_reach_the_images(tmp_path) -> None:
    session = ConsoleSession("syngo-mi-petct-2011a", SiteConfig())
    protocol = session.protocol(session.protocols()[0].name)
    protocol, dose = edit(session, protocol, "pet", "dose", "250")
    protocol, uptake = edit(session, protocol, "pet", "uptake", "90")
    acq = acquire(session.profile, protocol, seed=5, when=WHEN, limits=SMALL)
    pet = next(s for s in acq.series if s.spec.kind == "pet")
    ds = pet.datasets[0]
    info = ds.RadiopharmaceuticalInformationSequence[0]
    assert float(info.RadionuclideTotalDose) == pytest.approx(250e6)
    start = dt.datetime.strptime(re.sub(r"\..*", "", str(info.RadiopharmaceuticalStartTime)), "%H%M%S")
    series_time = dt.datetime.strptime(re.sub(r"\..*", "", str(ds.SeriesTime)), "%H%M%S")
    assert (series_time - start).total_seconds() == pytest.approx(90 * 60, abs=120)
    path = tmp_path / "pet.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []


def test_mr_te_must_stay_below_tr() -> None:
    session = ConsoleSession("oasis-velocity", SiteConfig())
    protocol = session.protocol(session.protocols()[0].name)
    te = next(p for p in session.parameters(protocol) if p.label == "TE")
    tr = next(p for p in session.parameters(protocol) if p.label == "TR" and p.series == te.series)
    with pytest.raises(UsageError, match="shorter than TR"):
        session.edit_parameter(protocol, te.key, f"{tr.value:g}")
    changed = session.edit_parameter(protocol, te.key, f"{te.value + 1:g}")
    assert [p.label for p in session.parameters(changed) if p.edited] == ["TE"]
    assert session.protocol(protocol.name) == protocol            # the product's protocol is unchanged
