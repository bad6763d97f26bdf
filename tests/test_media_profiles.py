"""Media application profiles as data (PS3.11) and each product's media rules (no peers)."""

from __future__ import annotations

import copy

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from appliance.media import MediaError, application_profile
from appliance.media.application_profiles import CSA_NON_IMAGE, is_image_class
from appliance.media.export import (capacity_for, transfer_syntaxes_for, updatable_profiles, writable_profiles)
from appliance.media.deidentify import Deidentifier, resolve_options
from appliance.media.transcode import choose_transfer_syntax
from appliance.profile import available_profiles, find_profile

from .data import ct_image, mr_image

ELE = "1.2.840.10008.1.2.1"
J2K_LL = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


@pytest.mark.parametrize("pid", sorted(available_profiles()))
def test_every_listed_profile_resolves(pid):
    p = find_profile(pid)
    for name in p.media.profiles:
        app = application_profile(name)
        assert app.medium.kind and app.image_transfer_syntaxes
    assert set(writable_profiles(p)) <= set(p.media.profiles)
    assert set(updatable_profiles(p)) <= set(writable_profiles(p))


def test_standard_tables():
    cd = application_profile("STD-GEN-CD")
    assert cd.medium.kind == "CD" and cd.medium.capacity == 700 * 2**20 and cd.medium.filesystem == "iso9660"
    assert cd.image_transfer_syntaxes == (ELE,) and cd.allows(MR_IMAGE) and cd.allows(BASIC_TEXT_SR)
    assert not cd.allows(CSA_NON_IMAGE) and not cd.compressed
    j2k = application_profile("STD-GEN-DVD-J2K")
    assert j2k.medium.capacity == 4_700_000_000 and j2k.image_transfer_syntaxes == (ELE, J2K_LL, J2K)
    assert j2k.transfer_syntaxes(BASIC_TEXT_SR) == (ELE,)  # compression for images only
    assert application_profile("STD-GEN-BD-J2K").medium.capacity == 25_000_000_000
    usb = application_profile("STD-GEN-USB-J2K")
    assert usb.medium.filesystem == "fat" and usb.medium.capacity is None
    ctmr = application_profile("STD-CTMR-CD")
    assert ctmr.allows(CT_IMAGE) and not ctmr.allows(BASIC_TEXT_SR)
    assert ctmr.image_transfer_syntaxes == (ELE, "1.2.840.10008.1.2.4.70")
    aug = application_profile("AUG-GEN-CD")
    assert aug.allows(CSA_NON_IMAGE) and aug.transfer_syntaxes(CSA_NON_IMAGE) == (ELE,)
    assert application_profile("STD-US-SC-MF-DVD-RAM").medium.kind == "DVD-RAM"
    assert application_profile("PRI-SYNGO-MOD41").medium.filesystem == "fat"
    assert not application_profile("STD-GEN-DVD").standard  # syngo's name, not PS3.11
    with pytest.raises(MediaError, match="unknown"):
        application_profile("STD-GEN-TAPE")
    assert is_image_class(MR_IMAGE) and not is_image_class(BASIC_TEXT_SR) and not is_image_class(CSA_NON_IMAGE)


def test_product_rules():
    mr, ct, petct = (find_profile(x) for x in ("syngo-mr-xa11b", "syngo-ct-va50a", "syngo-mi-petct-2011a"))
    # what is written: the profile's syntaxes that the product also lists, in the product's order
    assert transfer_syntaxes_for(mr, application_profile("STD-GEN-DVD-J2K"), MR_IMAGE) == (ELE, J2K_LL, J2K)
    assert transfer_syntaxes_for(mr, application_profile("STD-GEN-CD"), MR_IMAGE) == (ELE,)
    assert transfer_syntaxes_for(petct, application_profile("PRI-SYNGO-CD"), CT_IMAGE)[0] == ELE
    assert updatable_profiles(mr) == ["AUG-GEN-USB-J2K", "STD-GEN-USB-J2K"]  # FSU only on USB
    assert "STD-GEN-CD" not in writable_profiles(petct)  # FSR only (Table 96)
    assert capacity_for(find_profile("oasis-velocity"), application_profile("STD-CTMR-CD").medium) == 650_000_000
    assert capacity_for(ct, application_profile("STD-GEN-CD").medium) == 700 * 2**20


def test_transfer_syntax_choice():
    ds = mr_image()
    allowed = (ELE, J2K_LL, J2K)
    assert choose_transfer_syntax(ds, allowed) == ELE
    assert choose_transfer_syntax(ds, allowed, compress=True) == J2K_LL
    assert choose_transfer_syntax(ds, allowed, requested=J2K) == J2K
    sr = Dataset()
    sr.file_meta = ds.file_meta
    assert choose_transfer_syntax(sr, (ELE,), compress=True) == ELE  # no pixels: never compressed
    with pytest.raises(MediaError, match="not allowed"):
        choose_transfer_syntax(ds, (ELE,), requested=J2K)


def test_deidentifier_keeps_relationships():
    a, b = ct_image(), ct_image()
    b.StudyInstanceUID = a.StudyInstanceUID
    b.SeriesInstanceUID = generate_uid()
    deid = Deidentifier(resolve_options(("Full de-identification",), "Full de-identification"))
    a2, b2 = deid(copy.deepcopy(a)), deid(copy.deepcopy(b))
    assert a2.StudyInstanceUID == b2.StudyInstanceUID != a.StudyInstanceUID
    assert a2.SOPInstanceUID != a.SOPInstanceUID and a2.file_meta.MediaStorageSOPInstanceUID == a2.SOPInstanceUID
    assert a2.PatientID == b2.PatientID != a.PatientID
    opts = resolve_options(find_profile("syngo-mr-xa11b").deidentification.options, ["Retain UIDs Option"])
    assert "Basic Application Level Confidentiality Profile" in opts
    kept = Deidentifier(opts)(mr_image())
    assert kept.StudyInstanceUID and not kept.get("PatientBirthDate")  # Type 2: emptied
