"""Association acceptance and Storage SCP behaviour per profile, against DCMTK echoscu/storescu:
calling/called AE checks with the A-ASSOCIATE-RJ codes, out of resources with a store quota
(nothing half-written), abort after a failure where the statement says so, duplicates.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from pydicom import dcmread

from appliance.profile import find_profile

from .data import ct_image, mr_image, write
from .peers import require, run
from .test_provider_common import provider, site_config  # noqa: F401  (fixtures)

pytestmark = pytest.mark.interop


def _echo(server, calling: str, called: str | None = None):
    echoscu = require("echoscu")
    return run([echoscu, "-v", "-aet", calling, "-aec", called or server.aet, "127.0.0.1", str(server.port)])


@pytest.mark.parametrize("pid", ["syngo-mr-xa11b", "oasis-velocity", "syngo-ct-va50a"])
def test_configured_profile_rejects_an_unknown_calling_ae(provider, tmp_path, pid):
    assert find_profile(pid).network.calling_ae_policy == "configured"
    config = site_config(tmp_path / "site.toml", {"pacs": ("PACS", 104), "ws": ("VIEWER", 105)})
    server = provider(pid, aet="SCANNER", config=config)
    known = _echo(server, "PACS")
    assert known.returncode == 0, known.stdout + known.stderr
    unknown = _echo(server, "INTRUDER")
    out = unknown.stdout + unknown.stderr
    assert unknown.returncode != 0
    assert "Association Rejected" in out
    assert re.search(r"Result:\s+Rejected Permanent, Source: Service User", out), out
    assert "Calling AE Title Not Recognized" in out, out
    log = server.log()
    assert "association rejected: INTRUDER@127.0.0.1" in log
    assert "(result 1, source 1, reason 3)" in log


@pytest.mark.parametrize("pid", ["syngo-mr-xa11b", "oasis-velocity"])
def test_called_ae_title_must_match(provider, tmp_path, pid):
    config = site_config(tmp_path / "site.toml", {"pacs": ("PACS", 104)})
    server = provider(pid, aet="SCANNER", config=config)
    r = _echo(server, "PACS", called="SOMEONE")
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "Called AE Title Not Recognized" in out, out


def test_answer_any_aet_switch_and_the_any_profiles(provider, tmp_path):
    config = site_config(tmp_path / "site.toml", {"pacs": ("PACS", 104)})
    switched = provider("syngo-mr-xa11b", aet="SCANNER", config=config, args=["--accept-any-calling-aet"])
    assert _echo(switched, "INTRUDER").returncode == 0
    # COHERENCE states no calling AE check: any caller is accepted even with a site configuration
    any_policy = provider("coherence-primeview-3i", aet="COH", config=config)
    assert _echo(any_policy, "INTRUDER", called="ANYTHING").returncode == 0


def test_without_site_configuration_the_configured_policy_is_relaxed_and_said(provider, tmp_path):
    server = provider("syngo-mr-xa11b", aet="SCANNER")
    assert _echo(server, "ANYONE").returncode == 0
    assert "no site configuration was given" in server.log()


def _storescu(server, files: list[Path], calling: str = "PACS"):
    storescu = require("storescu")
    return run([storescu, "-v", "--no-halt", "-aet", calling, "-aec", server.aet, "127.0.0.1", str(server.port),
                *map(str, files)], timeout=60)


def _index_count(data: Path) -> int:
    db = sqlite3.connect(data / "index.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM instance").fetchone()[0]
    finally:
        db.close()


def test_out_of_resources_with_a_quota_and_nothing_half_written(provider, tmp_path):
    """syngo CT: A700 once the store quota is reached (Table 13); the association goes on."""
    images = [ct_image(seed=n) for n in range(3)]
    files = [write(ds, tmp_path / f"ct{n}.dcm") for n, ds in enumerate(images)]
    quota = files[0].stat().st_size + files[0].stat().st_size // 2   # room for one instance
    data = tmp_path / "ct-store"
    server = provider("syngo-ct-va50a", aet="CT", args=["--store-quota", str(quota)], data=data)
    r = _storescu(server, files)
    out = r.stdout + r.stderr
    assert out.count("Received Store Response (Success)") == 1, out
    assert out.count("Received Store Response (Refused: OutOfResources)") == 2, out
    log = server.log()
    assert log.count("refused with 0xA700") == 2 and "store quota" in log
    server.stop()
    assert _index_count(data) == 1
    assert not list((data / "tmp").iterdir())                       # no partial file
    assert len(list((data / "objects").rglob("*.dcm"))) == 1         # nothing half-placed


def test_pet_ct_aborts_the_association_after_a_failure(provider, tmp_path):
    """syngo MI PET/CT (§3.2.3.1.3): after A700 / A900 / 0110 the association is aborted."""
    images = [ct_image(seed=n) for n in range(3)]
    files = [write(ds, tmp_path / f"ct{n}.dcm") for n, ds in enumerate(images)]
    quota = files[0].stat().st_size + files[0].stat().st_size // 2
    data = tmp_path / "pet-store"
    server = provider("syngo-mi-petct-2011a", aet="PET", args=["--store-quota", str(quota)], data=data)
    r = _storescu(server, files)
    out = r.stdout + r.stderr
    assert "Received Store Response (Success)" in out
    assert "Received Store Response (Refused: OutOfResources)" in out   # the status first, then the abort
    assert out.count("Received Store Response") == 2                    # the third is never answered
    assert r.returncode != 0
    assert "Association Aborted" in out or "Peer aborted Association" in out, out
    assert "aborting the association" in server.log()
    server.stop()
    assert _index_count(data) == 1


def _duplicate_profile(tmp_path: Path, policy: str) -> str:
    text = Path(find_profile("syngo-mr-xa11b").source).read_text()
    text = re.sub(r'(?m)^duplicates\s*=.*$', f'duplicates = "{policy}"', text)
    text = text.replace('id = "syngo-mr-xa11b"', f'id = "mr-{policy.replace("_", "-")}"')
    path = tmp_path / f"mr-{policy.replace('_', '-')}.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("policy", ["keep_existing", "replace", "reject"])
def test_duplicate_sop_instance_policy_is_observable(provider, tmp_path, policy):
    """syngo MR keeps the first copy (§4.2.2.4.1.4); variants replace or reject."""
    profile = "syngo-mr-xa11b" if policy == "keep_existing" else _duplicate_profile(tmp_path, policy)
    first = mr_image(seed=1)
    second = mr_image(seed=2, sop_uid=first.SOPInstanceUID)
    for kw in ("StudyInstanceUID", "SeriesInstanceUID"):
        setattr(second, kw, getattr(first, kw))
    second.PatientName = "Second^Copy"
    f1, f2 = write(first, tmp_path / "first.dcm"), write(second, tmp_path / "second.dcm")
    data = tmp_path / f"dup-{policy}"
    server = provider(profile, aet="MRC", args=["--accept-any-calling-aet"], data=data)
    assert _storescu(server, [f1]).returncode == 0
    r = _storescu(server, [f2])
    out = r.stdout + r.stderr
    server.stop()
    stored = dcmread(next((data / "objects").rglob("*.dcm")))
    assert _index_count(data) == 1
    if policy == "keep_existing":
        assert "Received Store Response (Success)" in out and stored.PatientName == first.PatientName
        assert stored.PixelData == first.PixelData
    elif policy == "replace":
        assert "Received Store Response (Success)" in out and stored.PatientName == "Second^Copy"
    else:
        assert "Received Store Response (Error: CannotUnderstand)" in out, out   # C000, the MR's Cxxx
        assert stored.PatientName == first.PatientName
