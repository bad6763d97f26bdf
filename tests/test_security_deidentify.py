"""De-identification per the statements' confidentiality tables (syngo MR XA11B §7.1 Tables 70/71,
syngo CT VA50A §7 Tables 73/74), checked attribute by attribute for every level, and through
the real media export path with dcmdump and dciodvfy on the burned objects.
"""

from __future__ import annotations

import copy
from datetime import datetime

import pytest
from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UID, generate_uid

from acquisition.engine import Limits, acquire
from appliance.media.deidentify import ConfidentialityRules, Deidentifier, parse_table_tag
from appliance.media.errors import MediaError
from appliance.media.export import burn
from appliance.media.reader import import_media
from appliance.profile import find_profile
from appliance.store import Store

from .data import ct_image, mr_image
from .peers import require, run
from .test_media_fileset import dciodvfy_errors

TABLE_PROFILES = ["syngo-mr-xa11b", "syngo-ct-va50a"]
NOT_IN_A_DATA_SET = (0x0000, 0x0002, 0x0004)  # command, file meta and DICOMDIR groups
_VALUES = {
    "AE": "AE1", "AS": "040Y", "CS": "VALUE", "DA": "20260101", "DT": "20260101120000", "TM": "120000",
    "DS": "1.5", "IS": "1", "LO": "identifying", "SH": "identifying", "ST": "identifying", "LT": "identifying",
    "UT": "identifying", "UC": "identifying", "UR": "http://x", "PN": "Doe^John", "US": 1, "SS": 1, "UL": 1,
    "SL": 1, "FL": 1.0, "FD": 1.0, "OB": b"\x01\x02", "OW": b"\x01\x02", "UN": b"\x01\x02", "AT": 0x00100010,
    "OF": b"\x00\x00\x80\x3f", "OD": b"\x00" * 8, "OL": b"\x00" * 4, "OV": b"\x00" * 8, "SV": 1, "UV": 1,
}


def _value(tag: int):  # type: ignore[no-untyped-def]
    vr = dictionary_VR(tag).split(" or ")[0]
    if vr == "UI":
        return vr, generate_uid()
    if vr == "SQ":
        item = Dataset()
        item.CodeMeaning = "identifying"
        return vr, [item]
    return vr, _VALUES[vr]


def _concrete(kind: str, key) -> int:  # type: ignore[no-untyped-def]
    if kind == "tag":
        return key
    mask, value = key
    return value if value & 0xFFFF else value | 0x3000  # (50xx,xxxx) Curve Data -> (5000,3000)


def full_dataset(profile) -> tuple[Dataset, list[int], list[tuple[int, str, int]]]:  # type: ignore[no-untyped-def]
    """An image carrying every attribute of the profile's table (with values valid for their VR),
    an unlisted standard attribute and an unlisted private one."""
    ds = ct_image()
    standard, private = [], []
    for a in profile.deidentification.attributes:
        kind, key = parse_table_tag(a.tag)
        if kind == "private":
            group, creator, byte = key
            ds.private_block(group, creator, create=True).add_new(byte, "LO", f"private {a.name}")
            private.append(key)
            continue
        tag = _concrete(kind, key)
        if tag >> 16 in NOT_IN_A_DATA_SET:
            continue
        if tag >> 16 == 0x0019:  # (0019,0005) Multiphase UID: printed without a private creator
            ds.add_new(tag, "UI", generate_uid())
            standard.append(tag)
            continue
        vr, value = _value(tag)
        ds.add_new(tag, vr, value)
        standard.append(tag)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x30, "LO", "unlisted private")
    ds.BodyPartExamined = "HEAD"  # not listed: never touched
    return ds, standard, private


@pytest.mark.parametrize("pid", TABLE_PROFILES)
def test_every_listed_attribute_of_every_level(pid):
    profile = find_profile(pid)
    d = profile.deidentification
    assert len(d.levels) == 3 and len(d.attributes) > 250  # the whole tables are in the profile
    original, standard, private = full_dataset(profile)
    assert len(standard) > 240 and len(private) >= 20
    for column, level in enumerate(d.levels):
        deid = Deidentifier.from_profile(profile, level)
        out = deid(copy.deepcopy(original))
        checked = 0
        for tag in standard:
            before = original[tag]
            yes = deid.rules.listed(tag)
            row = next(a for a in d.attributes if _concrete(*parse_table_tag(a.tag)) == tag)
            assert yes == row.deidentified[column], (level, row.tag)
            after = out.get(tag)
            name = f"{level}: {row.tag} {row.name}"
            if not yes:
                assert after is not None and after.value == before.value, f"{name}: must be kept"
            elif after is not None:  # replaced, emptied or given a dummy; never the original value
                assert after.value != before.value, f"{name}: must be de-identified"
                if before.VR == "UI" and after.value:
                    assert UID(str(after.value)).is_valid and str(after.value) != str(before.value)
            checked += 1
        assert checked == len(standard)
        # the file meta follows the SOP Instance UID when the level replaces it
        replaced = deid.rules.listed(0x00080018)
        assert (out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID) is True
        assert (out.SOPInstanceUID != original.SOPInstanceUID) is bool(replaced)
        # private attributes: the level's rule, then the table
        policy = d.private_attributes[column]
        for key in private:
            group, creator, byte = key
            yes = deid.rules.private[key]
            after = out.get(original.private_block(group, creator).get_tag(byte))
            if policy == "remove" or yes:
                assert after is None, f"{level}: private {key} must be gone"
            else:
                assert after is not None and after.value.startswith("private"), f"{level}: private {key} kept"
        # (private_block() of a deep copy reads the original: pydicom caches blocks; so look tags up)
        unlisted = out.get(original.private_block(0x0029, "SIEMENS CSA HEADER").get_tag(0x30))
        assert (unlisted is not None) is (policy == "keep"), level
        assert out.BodyPartExamined == "HEAD" and out.PatientIdentityRemoved == "YES"
        assert out.DeidentificationMethod == level


def test_table_values_as_printed():
    """Spot checks against the printed tables, where the two products differ."""
    mr = find_profile("syngo-mr-xa11b")
    ct = find_profile("syngo-ct-va50a")

    def row(p, tag):  # type: ignore[no-untyped-def]
        return next(a.deidentified for a in p.deidentification.attributes if a.tag == tag)

    assert row(mr, "(0008,0018)") == (True, False, True)   # Table 70: Service replaces the SOP Instance UID
    assert row(ct, "(0008,0018)") == (True, False, False)  # Table 73: Service keeps it
    assert row(mr, "(0010,0030)") == (True, True, False)   # Patient's Birth Date
    assert row(ct, "(0010,0030)") == (True, True, True)
    assert row(mr, "(3008,0105)") == (False, False, False)  # Source Serial Number: kept at every level
    assert row(ct, "(0019,0005)") == (True, True, True)    # Table 74: Multiphase UID
    assert row(ct, "(0029, SIEMENS CT EXAM IMAGE,49)") == (True, False, False)
    assert mr.deidentification.private_attributes == ("remove", "remove", "keep")  # §7.1
    assert ct.deidentification.private_attributes == ("remove", "listed", "keep")  # §7


def test_the_loader_checks_the_table(tmp_path):
    import tomllib

    from appliance.profile import builtin_profile_dir, validate_data

    def problems(change) -> str:  # type: ignore[no-untyped-def]
        data = tomllib.loads((builtin_profile_dir() / "syngo-ct-va50a.toml").read_text())
        change(data["deidentification"])
        return "\n".join(map(str, validate_data(data, str(tmp_path / "syngo-ct-va50a.toml"))[1]))

    text = problems(lambda d: d["attributes"][0].update(deidentified=[True, False]))  # one value short
    assert "deidentification.attributes[0].deidentified" in text and "the table has 3 levels" in text
    assert "(0008,18)" in problems(lambda d: d["attributes"][1].update(tag="(0008,18)"))  # not a tag as printed
    assert "sometimes" in problems(lambda d: d.update(private_attributes=["remove", "sometimes", "keep"]))
    assert "not one of deidentification.options" in problems(lambda d: d.update(levels=["Full", "Reduced", "Service"]))


def test_ps315_options_use_the_first_column_less_what_they_retain():
    profile = find_profile("syngo-mr-xa11b")
    image = mr_image()
    image.file_meta = FileMetaDataset()
    image.file_meta.MediaStorageSOPInstanceUID = image.SOPInstanceUID
    out = Deidentifier.from_profile(profile, ["Retain UIDs Option"])(copy.deepcopy(image))
    assert out.StudyInstanceUID == image.StudyInstanceUID and out.SOPInstanceUID == image.SOPInstanceUID
    assert out.StudyDate == "19000101" and not out.get("PatientBirthDate") and out.PatientName == "ANONYMOUS"
    chars = Deidentifier.from_profile(profile, ["Retain Patient Characteristics Option"])(copy.deepcopy(image))
    assert chars.PatientSex == image.PatientSex and chars.StudyInstanceUID != image.StudyInstanceUID
    with pytest.raises(MediaError, match="one de-identification level"):
        Deidentifier.from_profile(profile, ["Full de-identification", "Retain UIDs Option"])
    with pytest.raises(MediaError, match="offers no de-identification"):
        Deidentifier.from_profile(find_profile("oasis-velocity"), "Full de-identification")


WHEN = datetime(2026, 3, 2, 8, 15, 0)
# what writing the file-set itself may change (transfer syntax, character set), not the table
EXPORT_MAY_CHANGE = {"PixelData", "SpecificCharacterSet", "LossyImageCompression", "LossyImageCompressionRatio",
                     "LossyImageCompressionMethod", "PhotometricInterpretation", "PlanarConfiguration"}


@pytest.mark.interop
@pytest.mark.parametrize("pid, enhanced", [("syngo-ct-va50a", False), ("syngo-mr-xa11b", True)])
def test_burned_objects_follow_the_table_and_pass_dcmdump_and_dciodvfy(pid, enhanced, tmp_path):
    profile = find_profile(pid)
    acq = acquire(profile, enhanced=enhanced, seed=3, when=WHEN, limits=Limits(max_matrix=32, max_slices=2,
                                                                                max_frames=2))
    acq.write(tmp_path / "in")
    originals = {str(dcmread(p).SOPInstanceUID): dcmread(p) for p in (tmp_path / "in").rglob("*.dcm")}
    dcmdump = require("dcmdump")
    require("dciodvfy")
    for n, level in enumerate(profile.deidentification.levels):
        result = burn(profile, [tmp_path / "in"], out=tmp_path / f"{n}.iso", deidentify=level)
        with Store(tmp_path / f"store{n}") as store:
            assert import_media(result.iso, store).instances == len(originals)
        exported = [p for p in (tmp_path / f"store{n}").rglob("*.dcm")]
        assert len(exported) == len(originals)
        rules = Deidentifier.from_profile(profile, level).rules
        by_sop = {}
        for path in exported:
            r = run([dcmdump, "-q", str(path)])
            assert r.returncode == 0 and "PatientIdentityRemoved" in r.stdout, r.stderr
            errors = dciodvfy_errors(path)
            assert errors == [], f"{level}: {path.name}: {errors}"
            by_sop[str(dcmread(path).SOPInstanceUID)] = dcmread(path)
        replaced = bool(rules.listed(0x00080018))
        assert (set(by_sop) == set(originals)) is not replaced
        # each exported object against its original, attribute by attribute (top level)
        pairs = zip(sorted(originals.values(), key=lambda d: (d.SeriesNumber, d.InstanceNumber)),
                    sorted(by_sop.values(), key=lambda d: (d.SeriesNumber, d.InstanceNumber)))
        for before, after in pairs:
            check_against_table(before, after, rules, level)
            assert after.PatientName == "ANONYMOUS" and after.PatientID != before.PatientID
            if rules.private_attributes == "remove":
                assert not any(e.tag.is_private for e in after), level


def check_against_table(before: Dataset, after: Dataset, rules: ConfidentialityRules, level: str, path: str = "") -> int:
    """Every standard attribute of *before*, in every sequence item: de-identified when the table
    says "Yes", else the same in *after*. Returns how many were checked."""
    checked = 0
    for elem in before:
        if elem.tag.is_private or elem.keyword in EXPORT_MAY_CHANGE:
            continue
        where = f"{level}: {path}{elem.keyword}"
        if rules.listed(int(elem.tag)):
            if elem.tag in after and elem.value:
                assert after[elem.tag].value != elem.value, f"{where} must be de-identified"
        elif elem.VR == "SQ":
            assert elem.tag in after and len(after[elem.tag].value) == len(elem.value), f"{where} must be kept"
            for i, (b, a) in enumerate(zip(elem.value, after[elem.tag].value)):
                checked += check_against_table(b, a, rules, level, f"{path}{elem.keyword}[{i}].")
        else:  # "No", or not listed: kept as it was
            assert elem.tag in after and after[elem.tag].value == elem.value, f"{where} must be kept"
        checked += 1
    return checked
