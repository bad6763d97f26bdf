"""What a product changes in a received instance before storing it, against DCMTK storescu.

syngo MI.PET/CT §3.2.3.1.5 and COHERENCE §5.1.3.1.5: unknown private attributes are removed
from instances received in Implicit VR; PET/CT §3.2.3.1.1: private attributes in sequence
items are removed on import; RLE Lossless (and for PET/CT JPEG Lossless Process 14) is
decompressed before storing. syngo CT VA50A states none of this: it stores what it gets.
"""

from __future__ import annotations

import subprocess
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLossless, RLELossless

from appliance.net.import_rules import apply_import_rules, known_creator
from appliance.profile import find_profile

from .data import ct_image, write
from .peers import require, run
from .test_provider_common import provider  # noqa: F401  (fixture)

pytestmark = pytest.mark.interop


def _with_privates(ts: str) -> Dataset:
    ds = ct_image(seed=7)
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")     # in the product's dictionary
    ds.add_new(0x00291008, "CS", "SOM 5")
    ds.add_new(0x00310010, "LO", "ACME RESEARCH")          # unknown to every product
    ds.add_new(0x00311001, "LO", "secret sauce")
    item = Dataset()
    item.CodeValue = "T-A0100"
    item.CodingSchemeDesignator = "SRT"
    item.CodeMeaning = "Brain"
    item.add_new(0x00330010, "LO", "ACME RESEARCH")
    item.add_new(0x00331001, "LO", "in an item")
    ds.AnatomicRegionSequence = Sequence([item])
    ds.file_meta.TransferSyntaxUID = ts
    return ds


def _send(server, path: Path, *ts_flags: str):
    storescu = require("storescu")
    r = run([storescu, "-v", *ts_flags, "-aet", "PACS", "-aec", server.aet, "127.0.0.1", str(server.port), str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Received Store Response (Success)" in r.stdout + r.stderr, r.stdout + r.stderr


def _stored(server, sop_uid: str) -> Path:
    found = list((server.data / "objects").rglob(f"{sop_uid}.dcm"))
    assert len(found) == 1, f"{sop_uid} not in the store:\n{server.log()}"
    return found[0]


def test_known_creator_matches_names_and_prefixes():
    known = ("SIEMENS CSA HEADER", "SIEMENS MED OCS *")
    assert known_creator("SIEMENS CSA HEADER ", known)
    assert known_creator("SIEMENS MED OCS FIELD NAME", known)
    assert not known_creator("SIEMENS MED", known)
    assert not known_creator("ACME RESEARCH", known)


def test_petct_removes_unknown_private_in_implicit_vr_and_private_in_items(provider, tmp_path):
    server = provider("syngo-mi-petct-2011a", aet="PETCT")
    ds = _with_privates(ImplicitVRLittleEndian)
    src = write(ds, tmp_path / "implicit.dcm")
    _send(server, src, "-xi")  # propose Implicit VR Little Endian only
    stored = dcmread(_stored(server, ds.SOPInstanceUID))
    assert stored.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert 0x00290010 in stored and stored[0x00291008].value in ("SOM 5", b"SOM 5")  # known creator kept
    assert 0x00310010 not in stored and 0x00311001 not in stored  # unknown creator removed
    item = stored.AnatomicRegionSequence[0]
    assert item.CodeValue == "T-A0100" and 0x00331001 not in item and 0x00330010 not in item
    assert np.array_equal(stored.pixel_array, ds.pixel_array)
    assert "unknown private attribute(s) removed (Implicit VR)" in server.log()


def test_petct_keeps_unknown_private_in_explicit_vr_but_not_in_items(provider, tmp_path):
    server = provider("syngo-mi-petct-2011a", aet="PETCT")
    ds = _with_privates(ExplicitVRLittleEndian)
    src = write(ds, tmp_path / "explicit.dcm")
    _send(server, src, "-xe")
    stored = dcmread(_stored(server, ds.SOPInstanceUID))
    assert stored[0x00311001].value == "secret sauce"  # the VR is known: kept at the top level
    assert 0x00331001 not in stored.AnatomicRegionSequence[0]  # §3.2.3.1.1: removed from sequence items


def test_ct_va50a_stores_what_it_receives(provider, tmp_path):
    server = provider("syngo-ct-va50a", aet="CTVA50")
    ds = _with_privates(ImplicitVRLittleEndian)
    src = write(ds, tmp_path / "implicit.dcm")
    _send(server, src, "-xi")
    stored = _stored(server, ds.SOPInstanceUID)
    sent = dcmread(src)
    got = dcmread(stored)
    assert got[0x00311001].value in ("secret sauce", b"secret sauce")
    assert 0x00331001 in got.AnatomicRegionSequence[0]
    # byte-identical data set after the File Meta Information
    assert stored.read_bytes().endswith(src.read_bytes()[-(len(sent.PixelData) + 64):])


def test_coherence_decompresses_rle_before_storing(provider, tmp_path):
    dcmcrle = require("dcmcrle")
    server = provider("coherence-primeview-3i", aet="COH")
    ds = ct_image(seed=9)
    plain = write(ds, tmp_path / "plain.dcm")
    rle = tmp_path / "rle.dcm"
    r = run([dcmcrle, str(plain), str(rle)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert dcmread(rle).file_meta.TransferSyntaxUID == RLELossless
    _send(server, rle, "-xr")  # propose RLE Lossless (and the uncompressed syntaxes)
    stored = dcmread(_stored(server, ds.SOPInstanceUID))
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(stored.pixel_array, ds.pixel_array)
    assert "decompressed from RLE Lossless" in server.log()
    dcmdump = require("dcmdump")
    dump = subprocess.run([dcmdump, str(_stored(server, ds.SOPInstanceUID))], capture_output=True, timeout=60)
    assert dump.returncode == 0 and b"Little Endian Explicit" in dump.stdout, dump.stderr


def test_petct_import_rules_decompress_jpeg_lossless_process14(tmp_path):
    """The rule itself on a DCMTK-encoded Process 14 stream (storescu proposes only the SV1
    variant of JPEG Lossless, so this syntax is not sent over the wire here)."""
    dcmcjpeg = require("dcmcjpeg")
    ds = ct_image(seed=11)
    plain = write(ds, tmp_path / "plain.dcm")
    jpeg = tmp_path / "jpeg.dcm"
    r = run([dcmcjpeg, "+el", str(plain), str(jpeg)])  # lossless, Process 14 (not SV1)
    assert r.returncode == 0, r.stdout + r.stderr
    encoded = jpeg.read_bytes()
    sent = dcmread(jpeg)
    assert sent.file_meta.TransferSyntaxUID == JPEGLossless
    offset = 132 + 12 + sent.file_meta.FileMetaInformationGroupLength  # preamble, DICM, group length element
    policy = find_profile("syngo-mi-petct-2011a").storage_scp
    result = apply_import_rules(encoded[offset:], JPEGLossless, policy)
    assert result is not None and result.transfer_syntax == ExplicitVRLittleEndian
    out = read_dataset(BytesIO(result.dataset), False, True)
    out.file_meta = sent.file_meta
    out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assert np.array_equal(out.pixel_array, ds.pixel_array)
    # syngo CT VA50A has no such rule: nothing to apply
    assert apply_import_rules(encoded[offset:], JPEGLossless, find_profile("syngo-ct-va50a").storage_scp) is None
