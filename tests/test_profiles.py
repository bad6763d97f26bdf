"""Profiles: every built-in loads; broken files give a clear error naming file, key and value."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from appliance import profile as profile_mod
from appliance.errors import ProfileError
from appliance.profile import available_profiles, builtin_profile_dir, find_profile, load_profile

PROFILE_IDS = [
    "syngo-mr-xa11b",
    "syngo-mi-petct-2011a",
    "oasis-velocity",
    "coherence-primeview-3i",
    "syngo-ct-va50a",
]
REPO = Path(__file__).resolve().parents[1]


def vscanner(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env=env)


def test_the_five_products_are_built_in():
    assert set(PROFILE_IDS) <= set(available_profiles())


@pytest.mark.parametrize("pid", PROFILE_IDS)
def test_profile_loads(pid):
    p = find_profile(pid)
    assert p.id == pid
    assert p.sop_classes, "a profile without SOP classes"
    assert p.identity.implementation_class_uid
    assert any(c.service == "verification" for c in p.sop_classes)
    # every SCP class has at least one accepted transfer syntax
    for c in p.classes(role="scp"):
        assert p.scp_transfer_syntaxes(c), c.name


def _write_broken(tmp_path: Path, mutate) -> Path:
    src = builtin_profile_dir() / "syngo-mr-xa11b.toml"
    data = tomllib.loads(src.read_text())
    mutate(data)
    path = tmp_path / "syngo-mr-xa11b.toml"
    path.write_text(_to_toml(data))
    return path


def _to_toml(data: dict) -> str:
    """A tiny TOML writer for the profile shape (tables, arrays of tables, scalars, lists)."""
    lines: list[str] = []

    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {scalar(x)}" for k, x in v.items()) + "}"
        raise TypeError(v)

    def table(prefix: str, d: dict):
        simple = {k: v for k, v in d.items() if not isinstance(v, dict) and not _is_aot(v)}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in simple.items():
            lines.append(f"{json.dumps(k)} = {scalar(v)}")
        for k, v in d.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                table(name, v)
            elif _is_aot(v):
                for item in v:
                    lines.append(f"[[{name}]]")
                    for ik, iv in item.items():
                        lines.append(f"{json.dumps(ik)} = {scalar(iv)}")

    table("", data)
    return "\n".join(lines) + "\n"


def _is_aot(v) -> bool:
    return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)


BROKEN = {
    "unknown key": (lambda d: d["network"].__setitem__("max_pdu_recieve", 1),
                    r"network\.max_pdu_recieve: unknown key .*did you mean 'max_pdu_receive'"),
    "malformed UID": (lambda d: d["identity"].__setitem__("implementation_class_uid", "1.3.12.02.x"),
                      r"identity\.implementation_class_uid: '1\.3\.12\.02\.x' is not a valid DICOM UID"),
    "unknown transfer syntax": (lambda d: d["transfer_syntaxes"].__setitem__("storage_scp", ["1.2.840.10008.1.2.99"]),
                                r"transfer_syntaxes\.storage_scp\[0\]: '1\.2\.840\.10008\.1\.2\.99' is not a known transfer syntax"),
    "wrong type": (lambda d: d["sop_classes"][0].__setitem__("scp", "yes"),
                   r"sop_classes\[0\]\.scp: must be true or false, got 'yes'"),
    "bad service": (lambda d: d["sop_classes"][1].__setitem__("service", "storage-ish"),
                    r"sop_classes\[1\]\.service: 'storage-ish' is not one of"),
    "missing key": (lambda d: d["identity"].pop("implementation_class_uid"),
                    r"identity\.implementation_class_uid: required key is missing"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_profile_is_refused_with_exit_2(tmp_path, case):
    mutate, pattern = BROKEN[case]
    path = _write_broken(tmp_path, mutate)
    for args in (["profile", "validate", str(path)], ["conformance", str(path), "--format", "json"]):
        r = vscanner(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert str(path) in r.stderr
        assert re.search(pattern, r.stderr), r.stderr
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert re.search(pattern, str(info.value))


def test_the_unmodified_copy_is_valid(tmp_path):
    path = _write_broken(tmp_path, lambda d: None)
    r = vscanner("profile", "validate", str(path))
    assert r.returncode == 0, r.stderr


def test_not_toml_and_unknown_id(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text("spec = [1,\n")
    r = vscanner("profile", "validate", str(bad))
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    r = vscanner("conformance", "no-such-product")
    assert r.returncode == 2 and "no profile named 'no-such-product'" in r.stderr
    assert "syngo-ct-va50a" in r.stderr  # the hint lists the known ones


def test_a_sixth_product_needs_no_code(tmp_path):
    """A new TOML file in a profile folder is a new product."""
    src = (builtin_profile_dir() / "oasis-velocity.toml").read_text()
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "my-scanner.toml").write_text(src.replace('id = "oasis-velocity"', 'id = "my-scanner"'))
    r = vscanner("--profile-dir", str(folder), "profiles", "--json")
    assert r.returncode == 0, r.stderr
    assert "my-scanner" in {row["id"] for row in json.loads(r.stdout)}
    r = vscanner("--profile-dir", str(folder), "conformance", "my-scanner", "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["profile"] == "my-scanner"


def test_every_schema_key_is_documented():
    doc = (REPO / "docs" / "profiles.md").read_text()
    missing = []

    def walk(cls):
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            forms = (f"`{f.name}`", f"[{f.name}]", f"[[{f.name}]]", f".{f.name}]")
            if not any(form in doc for form in forms):
                missing.append(f"{cls.__name__}.{f.name}")
            tp = profile_mod.typing.get_type_hints(cls)[f.name]
            for t in (tp, *profile_mod.typing.get_args(tp)):
                if dataclasses.is_dataclass(t):
                    walk(t)

    walk(profile_mod.Profile)
    assert not missing
