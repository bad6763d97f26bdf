"""Physics: MR contrast, CT numbers and noise, PET quantification (SUV from headers only),
and the phantoms and geometry they sample."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import numpy as np
import pytest

from acquisition import geometry, physics
from acquisition.engine import Limits, acquire
from acquisition.phantoms import PHANTOMS, make_phantom
from acquisition.protocols import product_data_for
from acquisition.tissues import TISSUES, ct_hu, mr_parameters
from appliance.profile import find_profile

WHEN = datetime(2026, 3, 2, 8, 15, 0)


# --- helpers ----------------------------------------------------------------------------------


def _frame(ds, index: int = 0):
    """(pixels, image position, pixel spacing) of a legacy image or an enhanced frame."""
    if "PerFrameFunctionalGroupsSequence" in ds:
        item = ds.PerFrameFunctionalGroupsSequence[index]
        ipp = item.PlanePositionSequence[0].ImagePositionPatient
        ps = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
        arr = ds.pixel_array[index] if ds.NumberOfFrames > 1 else ds.pixel_array
    else:
        ipp, ps, arr = ds.ImagePositionPatient, ds.PixelSpacing, ds.pixel_array
    return arr.astype(float), [float(v) for v in ipp], [float(v) for v in ps]


def roi_mean(ds, x: float, y: float, radius_mm: float) -> float:
    """Mean stored value in a disc around patient point (x, y) of an axial image."""
    arr, ipp, ps = _frame(ds)
    rows, cols = np.mgrid[:arr.shape[0], :arr.shape[1]]
    px, py = ipp[0] + cols * ps[1], ipp[1] + rows * ps[0]
    return float(arr[np.hypot(px - x, py - y) <= radius_mm].mean())


def _single(profile_id: str, protocol: str, description: str, limits: Limits, seed: int = 3, **changes):
    """Run one series of a protocol, with its parameters changed (e.g. te=150)."""
    profile = find_profile(profile_id)
    proto = product_data_for(profile_id).protocol(protocol)
    spec = next(s for s in proto.series if s.description == description)
    for table, values in changes.items():
        spec = dataclasses.replace(spec, **{table: dataclasses.replace(getattr(spec, table), **values)})
    proto = dataclasses.replace(proto, series=(spec,))
    return acquire(profile, proto, seed=seed, when=WHEN, limits=limits).series[0].datasets


# --- MR ---------------------------------------------------------------------------------------

# points of the head phantom on the axial slice z = 10 mm: a lateral ventricle and white matter
CSF, WM = (-9.5, -2.0), (25.0, 30.0)
ONE_SLICE = Limits(max_matrix=128, max_slices=1)


def test_mr_contrast_follows_t1_and_t2():
    t1 = _single("syngo-mr-xa11b", "Head routine", "t1_se_tra", ONE_SLICE)[0]
    t2 = _single("syngo-mr-xa11b", "Head routine", "t2_tse_tra", ONE_SLICE)[0]
    flair = _single("syngo-mr-xa11b", "Head routine", "t2_tirm_tra_dark-fluid", ONE_SLICE)[0]
    csf_t1, wm_t1 = roi_mean(t1, *CSF, 2.0), roi_mean(t1, *WM, 4.0)
    csf_t2, wm_t2 = roi_mean(t2, *CSF, 2.0), roi_mean(t2, *WM, 4.0)
    csf_fl, wm_fl = roi_mean(flair, *CSF, 2.0), roi_mean(flair, *WM, 4.0)
    print(f"\nT1 SE: CSF {csf_t1:.0f} WM {wm_t1:.0f}; T2 TSE: CSF {csf_t2:.0f} WM {wm_t2:.0f}; "
          f"FLAIR: CSF {csf_fl:.0f} WM {wm_fl:.0f}")
    assert csf_t2 > 1.5 * wm_t2  # CSF bright on T2
    assert csf_t1 < 0.8 * wm_t1  # and dark on T1
    assert csf_fl < 0.5 * wm_fl  # fluid suppressed by the inversion


def test_longer_echo_time_lowers_signal():
    short = _single("syngo-mr-xa11b", "Head routine", "t2_tse_tra", ONE_SLICE, mr={"te": 60.0})[0]
    long_ = _single("syngo-mr-xa11b", "Head routine", "t2_tse_tra", ONE_SLICE, mr={"te": 150.0})[0]
    for point, r in ((WM, 4.0), (CSF, 2.0)):
        a, b = roi_mean(short, *point, r), roi_mean(long_, *point, r)
        print(f"\nTE 60 -> 150 ms at {point}: {a:.0f} -> {b:.0f}")
        assert b < a
    # white matter (T2 ~70 ms at 3 T) loses more than CSF (T2 ~1800 ms)
    assert roi_mean(long_, *WM, 4) / roi_mean(short, *WM, 4) < roi_mean(long_, *CSF, 2) / roi_mean(short, *CSF, 2)


def test_mr_signal_equations():
    pd, t1, t2, t2s = mr_parameters(TISSUES["white_matter"], 1.5)
    se = physics.mr.spin_echo(pd, t1, t2, 500.0, 10.0)
    assert se == pytest.approx(pd * (1 - np.exp(-500 / t1)) * np.exp(-10 / t2))
    # Ernst angle maximises the spoiled gradient echo
    ernst = np.degrees(np.arccos(np.exp(-20.0 / t1)))
    flips = np.linspace(1, 60, 60)
    best = flips[np.argmax(physics.mr.gradient_echo(pd, t1, t2s, 20.0, 4.0, flips))]
    assert abs(best - ernst) <= 1.0
    # inversion recovery nulls a tissue at TI = T1 ln 2 (TR >> T1)
    assert physics.mr.inversion_recovery(1.0, t1, t2, 1e6, 1.0, t1 * np.log(2)) == pytest.approx(0, abs=1e-9)
    # T1 lengthens with field strength
    assert mr_parameters(TISSUES["grey_matter"], 3.0)[1] > mr_parameters(TISSUES["grey_matter"], 1.5)[1]


def test_mr_noise_is_rician_in_the_background():
    rng = np.random.default_rng(1)
    img = physics.mr.acquire_slice(np.zeros((128, 128)), 2, (48, 64), 0.05, rng)
    # a magnitude of two Gaussian channels: mean sigma*sqrt(pi/2), std sigma*sqrt(2 - pi/2)
    assert img.mean() == pytest.approx(0.05 * np.sqrt(np.pi / 2), rel=0.05)
    assert img.std() == pytest.approx(0.05 * np.sqrt(2 - np.pi / 2), rel=0.08)


# --- CT ---------------------------------------------------------------------------------------


def _water_hu(mas: float, seed: int) -> np.ndarray:
    datasets = _single("syngo-ct-va50a", "Water phantom QA", "QA 10.0 Hr40", Limits(max_matrix=128, max_slices=2),
                       seed=seed, ct={"mas": mas})
    values = []
    for ds in datasets:
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        arr, ipp, ps = _frame(ds)
        rows, cols = np.mgrid[:hu.shape[0], :hu.shape[1]]
        r = np.hypot(ipp[0] + cols * ps[1], ipp[1] + rows * ps[0])
        values.append(hu[r <= 60.0])  # central 12 cm of the 20 cm water cylinder
    return np.concatenate(values)


def test_ct_water_is_zero_hu_and_noise_halves_with_four_times_the_mas():
    low, high = _water_hu(100.0, seed=1), _water_hu(400.0, seed=2)
    ratio = high.std() / low.std()
    print(f"\nwater: mean {low.mean():+.2f} HU (100 mAs), {high.mean():+.2f} HU (400 mAs); "
          f"sigma {low.std():.2f} -> {high.std():.2f} HU, ratio {ratio:.3f}")
    assert abs(low.mean()) <= 5.0 and abs(high.mean()) <= 5.0
    assert ratio == pytest.approx(0.5, rel=0.15)


def test_ct_numbers_depend_on_kvp_and_kernels_filter():
    bone, water, fat = TISSUES["bone_cortical"], TISSUES["water"], TISSUES["fat"]
    assert ct_hu(water, 80) == ct_hu(water, 140) == 0.0
    assert ct_hu(bone, 80) > ct_hu(bone, 120) > ct_hu(bone, 140)  # photoelectric effect falls with energy
    assert ct_hu(fat, 80) < ct_hu(fat, 140) < 0
    f = np.linspace(0, 1.0, 50)
    soft, sharp = physics.ct.kernel_mtf(f, "soft"), physics.ct.kernel_mtf(f, "sharp")
    assert soft[0] == sharp[0] == 1.0 and np.all(np.diff(soft) <= 0)
    assert sharp.max() > 1.0  # edge enhancement
    rng = np.random.default_rng(0)
    n_soft = physics.ct.noise_field((256, 256), (0.5, 0.5), "soft", rng)
    assert n_soft.std() == pytest.approx(1.0, rel=0.05)
    assert physics.ct.noise_sigma(mas=100, kvp=120, thickness=5, kernel="sharp", wed_mm=300) > \
        physics.ct.noise_sigma(mas=100, kvp=120, thickness=5, kernel="soft", wed_mm=300)


def test_topogram_is_a_projection():
    hu = np.zeros((4, 100, 8))
    hu[:, :, 4:] = -1000.0  # right half: air
    p = physics.ct.line_integral(hu, 2.0, kvp=120, axis=1)
    assert p[0, 0] == pytest.approx(physics.ct.mu_water(120) * 200.0)
    assert p[0, 7] == 0.0
    noisy = physics.ct.topogram(p, mas=50, rng=np.random.default_rng(0))
    assert noisy[:, :4].mean() == pytest.approx(p[0, 0], rel=0.05)


# --- PET --------------------------------------------------------------------------------------


def _suv_from_headers(datasets, centre=(0.0, 0.0), radius_mm=40.0) -> np.ndarray:
    """SUVbw from the DICOM attributes alone (Units BQML, Decay Correction START)."""
    first = datasets[0]
    assert first.Units == "BQML" and first.DecayCorrection == "START"
    rp = first.RadiopharmaceuticalInformationSequence[0]
    series = datetime.strptime(first.SeriesDate + first.SeriesTime[:6], "%Y%m%d%H%M%S")
    injection = datetime.strptime(rp.RadiopharmaceuticalStartDateTime[:14], "%Y%m%d%H%M%S")
    half_life = float(rp.RadionuclideHalfLife)
    dose = float(rp.RadionuclideTotalDose) * 2 ** (-(series - injection).total_seconds() / half_life)
    weight_g = float(first.PatientWeight) * 1000.0
    out = []
    for ds in datasets:
        bqml = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        arr, ipp, ps = _frame(ds)
        rows, cols = np.mgrid[:arr.shape[0], :arr.shape[1]]
        r = np.hypot(ipp[0] + cols * ps[1] - centre[0], ipp[1] + rows * ps[0] - centre[1])
        out.append(bqml[r <= radius_mm] * weight_g / dose)
    return np.concatenate(out)


def test_pet_suv_from_headers_matches_the_phantom():
    datasets = _single("syngo-mi-petct-2011a", "PET uniformity QA", "PET QA uniformity",
                       Limits(max_matrix=64, max_slices=8))
    suv = _suv_from_headers(datasets[2:-2])  # away from the axial edges of the volume
    print(f"\nPET uniform cylinder: SUVmean {suv.mean():.4f} (phantom 1.0), SD {suv.std():.4f}")
    assert suv.mean() == pytest.approx(TISSUES["water"].suv, rel=0.05)


def test_pet_decay_and_activity():
    half = physics.pet.F18_HALF_LIFE
    assert physics.pet.decay(half, half) == pytest.approx(0.5)
    a = physics.pet.activity_concentration(np.array([1.0, 2.5]), 350e6, 70.0)
    assert a == pytest.approx([5000.0, 12500.0])
    # mean-preserving reconstruction: a uniform volume comes back at the frame-start activity
    vol = np.full((12, 32, 32), 5000.0)
    img = physics.pet.acquire_frame(vol, (3.0, 4.0, 4.0), duration=300.0, half_life=half,
                                    rng=np.random.default_rng(0), sensitivity=0.05)
    assert img[3:-3, 8:-8, 8:-8].mean() == pytest.approx(5000.0, rel=0.02)
    assert physics.pet.frame_decay_factor(300.0, half) == pytest.approx(1.0158, abs=1e-3)


# --- phantoms and geometry --------------------------------------------------------------------


def test_phantoms_label_tissues():
    head = make_phantom("head")
    label = head.labels_at(np.array([0.0, -9.5, 25.0, 0.0, 26.0]), np.array([0.0, -2.0, 30.0, -95.0, -22.0]),
                           np.array([200.0, 14.0, 10.0, 0.0, 30.0]))
    assert [head.tissues[k] for k in label] == ["air", "csf", "white_matter", "skin", "lesion"]
    for name in PHANTOMS:
        ph = make_phantom(name)
        assert ph.tissues[0] == "air" and all(t in TISSUES for t in ph.tissues)
    body = make_phantom("body")
    vol = body.voxelize((-200.0, -150.0, 100.0), (4.0, 4.0, 4.0), (3, 75, 100))
    assert {body.tissues[k] for k in np.unique(vol)} >= {"air", "lung", "fat", "muscle", "bone_trabecular"}


def test_grid_sampling_matches_point_sampling():
    ph = make_phantom("whole_body")
    for orientation in ("axial", "sagittal", "coronal"):
        plane = geometry.stack(orientation, (5.0, 3.0, 120.0), (420.0, 300.0), (70, 50), 1, 3.0, 3.0)[0]
        fast = ph.labels_on_grid(*geometry.grid(plane, 2))
        slow = ph.labels_at(*geometry.pixel_centres(plane, 2))
        assert np.array_equal(fast, slow), orientation


def test_stacks_are_ordered_and_spaced():
    planes = geometry.stack("axial", (0.0, 0.0, 0.0), (200.0, 200.0), (64, 64), 5, 4.0, 4.0)
    z = geometry.slice_positions(planes)
    assert np.allclose(np.diff([p.position[2] for p in planes]), -4.0)  # head to feet
    assert np.allclose(np.abs(np.diff(z)), 4.0)
    assert np.allclose(planes[2].centre, (0.0, 0.0, 0.0))
    sag = geometry.stack("sagittal", (0.0, 0.0, 0.0), (200.0, 200.0), (64, 64), 3, 10.0, 5.0)
    assert np.allclose(np.diff([p.position[0] for p in sag]), -10.0)  # along the normal (-x): left to right
    assert np.allclose(np.diff(geometry.slice_positions(sag)), 10.0)
