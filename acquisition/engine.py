"""The acquisition engine: profile + protocol + patient (or worklist item) -> datasets.

For each series step of a protocol the engine lays out the image geometry, samples the
phantom, runs the modality's physics (:mod:`acquisition.physics`), encodes the pixels
with the product's rules and calls the IOD builders (:mod:`acquisition.iods`). Which
objects are made, legacy or enhanced, is checked against the profile's created SOP
classes. Everything random comes from ``numpy.random.default_rng([seed, series index])``.

    >>> from appliance.profile import find_profile
    >>> acq = acquire(find_profile("syngo-ct-va50a"), "Head routine", seed=1)
    >>> acq.write("out")  # doctest: +SKIP
"""

from __future__ import annotations

__all__ = ["Limits", "SeriesResult", "Acquisition", "WrittenSeries", "acquire", "list_protocols",
           "object_kinds", "derivable_kinds", "list_objects", "MovedPhantom", "RESCAN_MOTION"]

import io
import logging
import math
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID
from scipy import ndimage

from appliance.errors import UsageError

from . import contours, geometry, physics
from .geometry import Plane
from .iods import DERIVED_BUILDERS, DOCUMENT_BUILDERS, SOP_CLASSES, ImageFrame, ObjectContext
from .iods import dose_sr, enhanced, legacy, rt
from .iods import modules as m
from .iods.derived_images import Source
from .iods.registration import rigid_matrix
from .iods.uids import UIDFactory
from .phantoms import Phantom, make_phantom
from .protocols import PixelEncoding, ProductData, Protocol, SeriesSpec, product_data_for
from .tissues import TISSUES, ct_hu, mr_parameters
from .worklist_mapping import WorklistItem, as_worklist_item, map_worklist

LOGGER = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Limits:
    """Caps for previews and tests: matrices and slice counts are reduced (field of view
    and slice spacing kept)."""

    max_matrix: int | None = None
    max_slices: int | None = None
    max_frames: int | None = None


@dataclass
class SeriesResult:
    spec: SeriesSpec
    kind: str
    uid: str
    datasets: list[Dataset]
    planes: list[Plane] = field(default_factory=list)
    values: np.ndarray | None = None  # physical values, [image, row, column]
    start: datetime | None = None
    duration: float = 0.0

    @property
    def references(self) -> list[tuple[str, str]]:
        return [(str(d.SOPClassUID), str(d.SOPInstanceUID)) for d in self.datasets]


@dataclass(frozen=True)
class WrittenSeries:
    number: int
    description: str
    sop_class: str
    folder: Path
    files: int
    bytes: int


@dataclass
class Acquisition:
    profile_id: str
    protocol: Protocol
    patient: m.PatientInfo
    study: m.StudyInfo
    series: list[SeriesResult]
    exam: Any = field(default=None, repr=False, compare=False)

    @property
    def datasets(self) -> list[Dataset]:
        return [d for s in self.series for d in s.datasets]

    def derive(self, kind: str, source: str | None = None) -> list[SeriesResult]:
        """Make an object of *kind* (see :func:`derivable_kinds`) from this exam and add its
        series (and, for a spatial registration, the repositioned rescan it registers) to
        :attr:`series`. *source* names the image series it derives from (its description);
        default: the first single-orientation image series. Refuses kinds the profile does
        not create."""
        if self.exam is None:
            raise UsageError("this acquisition has no exam state to derive objects from",
                             "derive from the Acquisition that acquire() returned")
        new = self.exam.derive(kind, source)
        self.series.extend(new)
        return new

    def write(self, out_dir: str | os.PathLike[str], progress: Progress | None = None,
              workers: int = 1) -> list[WrittenSeries]:
        """Write every series to ``out_dir/<number>_<description>/NNNN.dcm``.

        With *workers* > 1 (and where processes can be forked) the files are encoded and
        written by that many forked processes, which share the datasets without copying.
        """
        out = Path(out_dir)
        jobs: list[tuple[int, Path]] = []  # (index into self.datasets, path)
        folders = []
        for s in self.series:
            folder = out / f"{s.datasets[0].SeriesNumber:03d}_{_slug(s.spec.description)}"
            folder.mkdir(parents=True, exist_ok=True)
            folders.append(folder)
            first = len(jobs)
            jobs += [(first + i, folder / f"{i + 1:04d}.dcm") for i in range(len(s.datasets))]
        datasets = self.datasets
        labels = [s.spec.description for s in self.series for _ in s.datasets]
        sizes = [0] * len(jobs)
        if workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
            global _WRITE_JOB
            _WRITE_JOB = (datasets, jobs)
            chunks = [list(range(k, min(k + 8, len(jobs)))) for k in range(0, len(jobs), 8)]
            ctx = multiprocessing.get_context("fork")
            try:
                with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                    done = 0
                    for chunk, result in zip(chunks, pool.map(_write_chunk, chunks)):
                        for k, n in zip(chunk, result):
                            sizes[k] = n
                        done += len(chunk)
                        if progress:
                            progress(done, len(jobs), labels[chunk[-1]])
            finally:
                _WRITE_JOB = None
        else:
            for k, path in jobs:
                sizes[k] = _write_file(datasets[k], path)
                if progress:
                    progress(k + 1, len(jobs), labels[k])
        written, k = [], 0
        for s, folder in zip(self.series, folders):
            n = len(s.datasets)
            written.append(WrittenSeries(int(s.datasets[0].SeriesNumber), s.spec.description,
                                         str(s.datasets[0].SOPClassUID), folder, n, sum(sizes[k:k + n])))
            k += n
        return written


_WRITE_JOB: tuple[list[Dataset], list[tuple[int, Path]]] | None = None


def _write_file(ds: Dataset, path: Path) -> int:
    buffer = io.BytesIO()  # one write per file instead of one per element
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    with open(path, "wb") as fh:
        return fh.write(buffer.getbuffer())


def _write_chunk(indices: list[int]) -> list[int]:
    """In a forked worker: write the files *indices* of the job set up by the parent."""
    assert _WRITE_JOB is not None
    datasets, jobs = _WRITE_JOB
    return [_write_file(datasets[k], jobs[k][1]) for k in indices]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:40] or "series"


def list_protocols(profile) -> list[Protocol]:
    return list(product_data_for(profile.id, profile.source).protocols)


# --- which objects: from the profile ---------------------------------------------------------


def object_kinds(profile, product: ProductData, protocol: Protocol, enhanced_flag: bool | None) -> list[str]:
    """The object kind each series of *protocol* produces, checked against the profile."""
    created = {c.uid for c in profile.classes(service="storage") if c.creates}
    kinds = []
    for s in protocol.series:
        if s.kind in ("mr", "ct"):
            legacy_kind, enhanced_kind = ("mr_image", "enhanced_mr") if s.kind == "mr" else ("ct_image", "enhanced_ct")
            default = product.header.mr_object if s.kind == "mr" else product.header.ct_object
            want_enhanced = enhanced_flag if enhanced_flag is not None else default == "enhanced"
            kind = enhanced_kind if want_enhanced else legacy_kind
            if SOP_CLASSES[kind] not in created and enhanced_flag is None:
                kind = legacy_kind if want_enhanced else enhanced_kind
        else:
            kind = {"ct_localizer": "ct_localizer", "pet": "pet_image", "rt_image": "rt_image",
                    "rtstruct": "rtstruct", "sc": "sc_image", "dose_sr": "dose_sr"}[s.kind]
        uid = SOP_CLASSES[kind]
        if uid not in created:
            raise UsageError(
                f"profile {profile.id!r} does not create {UID(uid).name} ({uid}), which series "
                f"{s.description!r} of protocol {protocol.name!r} needs",
                "its statement lists the classes the product creates (sop_classes with creates = true); "
                + ("drop --enhanced/--legacy" if s.kind in ("mr", "ct") else "choose another protocol"),
            )
        kinds.append(kind)
    return kinds


def derivable_kinds() -> dict[str, str]:
    """Object kinds made after the acquisition (``Acquisition.derive``): kind -> SOP Class UID."""
    return {k: SOP_CLASSES[k] for k in [*DERIVED_BUILDERS, *DOCUMENT_BUILDERS]}


def list_objects(profile) -> list[tuple[str, str, list[str], str]]:
    """Every class *profile* creates: (SOP Class UID, name, object kinds, how it is made:
    ``protocol``, ``derive``, or ``no protocol`` for a kind no protocol of this product makes)."""
    product = product_data_for(profile.id, profile.source)
    in_protocols = set()
    for proto in product.protocols:
        for flag in (None, True, False):
            try:
                in_protocols.update(object_kinds(profile, product, proto, flag))
            except UsageError:
                pass
    rows = []
    for c in profile.classes(service="storage"):
        if not c.creates:
            continue
        kinds = [k for k, uid in SOP_CLASSES.items() if uid == c.uid]
        how = ("protocol" if any(k in in_protocols for k in kinds) else
               "derive" if any(k in DERIVED_BUILDERS or k in DOCUMENT_BUILDERS for k in kinds) else
               "no protocol" if kinds else "not built")
        rows.append((c.uid, c.name, kinds, how))
    return rows


# --- geometry ---------------------------------------------------------------------------------


def _scaled(n: int, cap: int | None) -> int:
    return n if cap is None else max(1, min(n, cap))


def _planes(spec: SeriesSpec, limits: Limits) -> tuple[list[Plane], list[tuple[int, int]]]:
    """Image planes of a series and their (stack, in-stack position)."""
    g = spec.geometry
    assert g is not None
    factor = min(1.0, (limits.max_matrix or 10**9) / max(g.matrix))
    matrix = (max(8, int(round(g.matrix[0] * factor))), max(8, int(round(g.matrix[1] * factor))))
    slices = _scaled(g.slices, limits.max_slices) if g.slices > 1 else 1
    spacing = g.spacing or g.thickness
    if g.orientation == "three_plane":
        planes, ids = [], []
        for k, orientation in enumerate(("sagittal", "coronal", "axial"), start=1):
            st = geometry.stack(orientation, g.centre, g.fov, matrix, slices, spacing, g.thickness)
            planes += st
            ids += [(k, i + 1) for i in range(len(st))]
        return planes, ids
    st = geometry.stack(g.orientation, g.centre, g.fov, matrix, slices, spacing, g.thickness)
    return st, [(1, i + 1) for i in range(len(st))]


def _depths(thickness: float) -> list[float]:
    return [-thickness / 3, 0.0, thickness / 3] if thickness >= 2.0 else [0.0]


def _sample(ph: Phantom, plane: Plane, table: np.ndarray, oversample: int) -> np.ndarray:
    """Mean of a per-tissue property over sub-pixels and depths of a thick slice."""
    acc = None
    depths = _depths(plane.thickness)
    for d in depths:
        v = table[ph.labels_on_grid(*geometry.grid(plane, oversample, through=d))]
        acc = v if acc is None else acc + v
    return acc / len(depths)


def _downsample(a: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return a
    r, c = a.shape
    return a.reshape(r // n, n, c // n, n).mean(axis=(1, 3))


# --- the engine -------------------------------------------------------------------------------

# The patient's movement between a series and its rescan (a spatial registration relates the
# two frames of reference): 4 degrees about the feet-head axis, 1.5 about left-right, and a
# shift of (3, -2, 5) mm. [emulator choice]
RESCAN_MOTION = rigid_matrix((1.5, 0.0, 4.0), (3.0, -2.0, 5.0))


class MovedPhantom:
    """A phantom moved rigidly by *motion* (4x4, patient coordinates): the labels at a point
    q are the original phantom's at ``motion^-1 q``."""

    def __init__(self, phantom: Phantom, motion: np.ndarray) -> None:
        self.phantom, self.motion = phantom, np.asarray(motion, float)
        self.inverse = np.linalg.inv(self.motion)
        self.tissues = phantom.tissues
        self.name = phantom.name

    def label(self, tissue_name: str) -> int:
        return self.phantom.label(tissue_name)

    def labels_on_grid(self, origin, row_step, column_step, shape: tuple[int, int]) -> np.ndarray:
        r, t = self.inverse[:3, :3], self.inverse[:3, 3]
        return self.phantom.labels_on_grid(r @ np.asarray(origin, float) + t, r @ np.asarray(row_step, float),
                                           r @ np.asarray(column_step, float), shape)


# Modality of a document-like object's series, by SOP Class UID
_DOCUMENT_MODALITY = {"1.2.840.10008.5.1.4.1.1.88.59": "KO", "1.2.840.10008.5.1.4.1.1.88.22": "SR",
                      "1.2.840.10008.5.1.4.1.1.88.33": "SR", "1.2.840.10008.5.1.4.1.1.104.1": "DOC",
                      "1.2.840.10008.5.1.4.1.1.481.5": "RTPLAN", "1.2.840.10008.5.1.4.1.1.481.2": "RTDOSE"}


def object_charset(profile, worklist: WorklistItem | None) -> str:
    """The Specific Character Set of the objects: the worklist item's when the product supports
    every term of it (so a Japanese name from the RIS survives into the images), else the
    profile's default. Multi-valued sets are backslash-joined."""
    default = profile.character_sets.default
    worklist = as_worklist_item(worklist)
    wanted = worklist.specific_character_set if worklist is not None else ""
    if not wanted:
        return default
    supported = set(profile.character_sets.supported) | {"", "ISO_IR 6"}
    return wanted if all(term in supported for term in wanted.split("\\")) else default


class _Exam:
    def __init__(self, profile, product: ProductData, protocol: Protocol, kinds: list[str], *,
                 patient: m.PatientInfo, worklist: WorklistItem | None, seed: int, when: datetime,
                 reproducible: bool, limits: Limits, progress: Progress | None, mpps_uid: str | None) -> None:
        self.profile, self.product, self.protocol, self.kinds = profile, product, protocol, kinds
        self.seed, self.when, self.limits, self.progress = seed, when, limits, progress
        h = product.header
        self.uids = UIDFactory(h.uid_root, seed, when.isoformat(), protocol.name, reproducible=reproducible)
        self.pps_uid = mpps_uid or (self.uids.new("mpps") if worklist is not None else None)
        self.patient, self.study = map_worklist(
            worklist, product.worklist, uids=self.uids, when=when, protocol_name=protocol.name,
            body_part=protocol.body_part, manual_patient=patient, referenced_pps_uid=self.pps_uid)
        ident = profile.identity
        self.equipment = m.Equipment(
            manufacturer=ident.manufacturer, model=h.model, device_serial_number=h.device_serial_number,
            software_versions=h.software_versions or ident.software_versions, station_name=h.station_name,
            institution_name=h.institution_name, institution_address=h.institution_address, department=h.department)
        self.ctx = ObjectContext(
            patient=self.patient, study=self.study, equipment=self.equipment, charset=object_charset(profile, worklist),
            created=when, uids=self.uids, implementation_class_uid=profile.media_implementation_class_uid,
            implementation_version_name=profile.media_implementation_version_name, rules=dict(product.objects),
            private=product.private, timezone_offset=h.timezone_offset)
        self.frame_of_reference = self.uids.new("for")  # one per study position (the protocol)
        self.results: dict[str, SeriesResult] = {}
        self.phantoms: dict[str, Any] = {}
        self.acquired: list[SeriesResult] = []  # the protocol's series and derived documents, in order
        self.frames_of_reference: dict[str, str] = {}
        self.events: list[dose_sr.IrradiationEvent] = []
        self.clock = when
        self.done, self.total = 0, self._estimate_total()

    def _estimate_total(self) -> int:
        n = 0
        for s in self.protocol.series:
            if s.geometry:
                k = _scaled(s.geometry.slices, self.limits.max_slices) if s.geometry.slices > 1 else 1
                n += k * (3 if s.geometry.orientation == "three_plane" else 1)
            else:
                n += 1
        return n

    def tick(self, message: str, n: int = 1) -> None:
        self.done += n
        if self.progress:
            self.progress(min(self.done, self.total), self.total, message)

    def series_info(self, spec: SeriesSpec, modality: str, start: datetime, kind: str) -> m.SeriesInfo:
        rule = self.ctx.rule(kind)
        return m.SeriesInfo(
            uid=self.ctx.instance_uid(kind), number=rule.series_number or spec.series_number, modality=modality,
            description=spec.description, protocol_name=self.protocol.name, when=start,
            body_part=spec.body_part or self.protocol.body_part, patient_position=self.product.header.patient_position,
            operator=self.product.header.operator, frame_of_reference_uid=self.frame_of_reference,
            image_type=spec.image_type)

    def encoding(self, kind: str, fallback: PixelEncoding | None = None) -> PixelEncoding:
        rule = self.ctx.rule(kind)
        return rule.encoding or fallback or PixelEncoding()

    def run(self) -> list[SeriesResult]:
        out = []
        for index, (spec, kind) in enumerate(zip(self.protocol.series, self.kinds)):
            rng = np.random.default_rng([self.seed, index])
            ph = make_phantom(spec.phantom or self.protocol.phantom)
            start = self.clock
            res = getattr(self, f"_{spec.kind}")(spec, kind, ph, rng, start, index)
            res.start = start
            self.results[spec.description] = res
            self.phantoms[spec.description] = ph
            self.frames_of_reference[spec.description] = self.frame_of_reference
            self.acquired.append(res)
            out.append(res)
            self.clock = start + timedelta(seconds=res.duration + 30.0)
        return out

    # --- MR --------------------------------------------------------------------------------

    def _mr(self, spec, kind, ph, rng, start, index) -> SeriesResult:
        mr = spec.mr
        field_strength = self.product.header.field_strength or 1.5
        frequency = self.product.header.imaging_frequency or 42.577478 * field_strength
        planes, ids = _planes(spec, self.limits)
        params = np.array([mr_parameters(TISSUES[t], field_strength) for t in ph.tissues])
        signal = physics.mr.tissue_signal(mr.sequence, *params.T, tr=mr.tr, te=mr.te, ti=mr.ti, flip=mr.flip)
        g = spec.geometry
        scale = planes[0].rows / g.matrix[0]
        acq = mr.acquisition_matrix or g.matrix
        acq = (max(4, int(round(acq[0] * scale))), max(4, int(round(acq[1] * scale))))
        n = 2
        images = []
        for p in planes:
            fine = _sample(ph, p, signal, n)
            phase_steps = acq[1] if mr.phase_direction == "ROW" else acq[0]
            sigma = physics.mr.noise_sigma(voxel_mm3=p.pixel_spacing[0] * p.pixel_spacing[1] * p.thickness,
                                           averages=mr.averages, phase_steps=phase_steps,
                                           bandwidth_hz_px=mr.bandwidth, field_strength=field_strength)
            images.append(physics.mr.acquire_slice(fine, n, acq, sigma, rng))
            self.tick(spec.description)
        values = np.stack(images)
        enc = self.encoding(kind, self.encoding("mr_image"))
        stored = m.encode_pixels(values * (enc.signal_scale or 2000.0), enc, 1.0, 0.0)  # fixed receiver gain
        lo, hi = np.percentile(stored, [1.0, 99.5])
        window = [((lo + hi) / 2.0, max(hi - lo, 1.0))]
        phase = acq[1] if mr.phase_direction == "ROW" else acq[0]
        shots = phase * mr.averages * (g.slices if mr.acquisition_type == "3D" else 1) / max(mr.echo_train_length, 1)
        duration = mr.tr * shots / 1000.0 + 2.0
        step = duration / len(planes)
        frames = [ImageFrame(stored[i], p, start + timedelta(seconds=i * step), windows=window, stack=s, in_stack=k)
                  for i, (p, (s, k)) in enumerate(zip(planes, ids))]
        series = self.series_info(spec, "MR", start, kind)
        g_spacing = (g.spacing or g.thickness) if g.slices > 1 else None
        if kind == "enhanced_mr":
            datasets = [enhanced.enhanced_mr_image(
                self.ctx, series, frames, enc, mr, field_strength=field_strength, frequency=frequency,
                duration_s=duration, spacing_between_slices=g_spacing, comments=spec.image_comments)]
        else:
            datasets = list(legacy.mr_image(self.ctx, series, frames, enc, mr, field_strength=field_strength,
                                            frequency=frequency, spacing_between_slices=g_spacing,
                                            comments=spec.image_comments))
        return SeriesResult(spec, kind, series.uid, datasets, planes, values, duration=duration)

    # --- CT --------------------------------------------------------------------------------

    def _ct(self, spec, kind, ph, rng, start, index) -> SeriesResult:
        ct = spec.ct
        planes, ids = _planes(spec, self.limits)
        hu_table = np.array([ct_hu(TISSUES[t], ct.kvp) for t in ph.tissues])
        n = 2 if planes[0].rows <= 256 else 1
        images, sigmas = [], []
        for p in planes:
            hu = _downsample(_sample(ph, p, hu_table, n), n)
            img, sigma = physics.ct.reconstruct(hu, p.pixel_spacing, kernel=ct.kernel_class, mas=ct.mas, kvp=ct.kvp,
                                                thickness=p.thickness, rng=rng, sigma_ref=ct.sigma_ref)
            images.append(img)
            sigmas.append(sigma)
            self.tick(spec.description)
        values = np.stack(images)
        enc = self.encoding(kind, self.encoding("ct_image"))
        windows = list(spec.windows or enc.windows or [(40.0, 400.0)])
        z = geometry.slice_positions(planes)
        length = float(abs(z[-1] - z[0]) + planes[0].thickness)
        feed = ct.pitch * ct.total_collimation
        duration = length / (feed / ct.rotation_time) + ct.rotation_time
        ctdivol = physics.ct.ctdi_vol(mas=ct.mas, kvp=ct.kvp, phantom=ct.ctdi_phantom)
        event_uid = self.uids.new("irradiation")
        scanned = length + ct.total_collimation * ct.pitch  # overranging
        self.events.append(dose_sr.IrradiationEvent(
            uid=event_uid, protocol=spec.description, body_part=spec.body_part or self.protocol.body_part,
            acquisition_type=ct.acquisition_type, start=start, end=start + timedelta(seconds=duration),
            kvp=ct.kvp, tube_current=ct.mas * ct.pitch / ct.rotation_time, exposure_time=duration,
            rotation_time=ct.rotation_time, scanning_length_mm=scanned, single_collimation=ct.single_collimation,
            total_collimation=ct.total_collimation, pitch=ct.pitch, ctdivol=ctdivol,
            dlp=ctdivol * scanned / 10.0, phantom=ct.ctdi_phantom))
        step = duration / len(planes)
        frames = []
        for i, (p, (s, k)) in enumerate(zip(planes, ids)):
            frames.append(ImageFrame(m.encode_pixels(values[i], enc), p, start + timedelta(seconds=i * step),
                                     slope=enc.rescale_slope, intercept=enc.rescale_intercept, windows=windows,
                                     stack=s, in_stack=k))
        series = self.series_info(spec, "CT", start, kind)
        localizers = [r for r in self.results.values() if r.kind == "ct_localizer"]
        if kind == "enhanced_ct":
            datasets = [enhanced.enhanced_ct_image(self.ctx, series, frames, enc, ct, ctdivol=ctdivol,
                                                   irradiation_uid=event_uid, duration_s=duration,
                                                   comments=spec.image_comments)]
        else:
            refs = localizers[-1].references if localizers else []
            datasets = list(legacy.ct_image(self.ctx, series, frames, enc, ct, kind=kind, ctdivol=ctdivol,
                                            irradiation_uid=event_uid, acquisition_number=index + 1,
                                            referenced_localizers=refs, comments=spec.image_comments,
                                            window_explanations=spec.window_explanations))
        return SeriesResult(spec, kind, series.uid, datasets, planes, values, duration=duration)

    def _ct_localizer(self, spec, kind, ph, rng, start, index) -> SeriesResult:
        ct = spec.ct
        planes, _ = _planes(spec, self.limits)
        plane = planes[0]
        hu_table = np.array([ct_hu(TISSUES[t], ct.kvp) for t in ph.tissues])
        # sample the body on coronal planes from anterior to posterior: [row (z), depth (y), column (x)]
        step_y = 2.5
        origin, dr, dc, shape = geometry.grid(plane)
        depths = np.arange(-300.0, 300.0, step_y)
        line = np.zeros(shape, np.float32)
        for y in depths:
            hu = hu_table[ph.labels_on_grid(origin + (0.0, y - origin[1], 0.0), dr, dc, shape)]
            line += physics.ct.line_integral(hu, step_y, kvp=ct.kvp)
        proj = physics.ct.topogram(line, mas=ct.mas, rng=rng)
        self.tick(spec.description)
        values = (proj * 1000.0)[None]  # attenuation x 1000 (Rescale Type US)
        enc = self.encoding("ct_localizer", self.encoding("ct_image"))
        lo, hi = np.percentile(values, [0.5, 99.9])
        window = [(float(lo + hi) / 2.0, float(hi - lo) or 1.0)]
        length = plane.rows * plane.pixel_spacing[0]
        duration = length / 100.0 + 1.0  # 100 mm/s table speed
        event_uid = self.uids.new("irradiation")
        tube_current = ct.mas / max(duration, 1e-3)
        self.events.append(dose_sr.IrradiationEvent(
            uid=event_uid, protocol=spec.description, body_part=spec.body_part or self.protocol.body_part,
            acquisition_type="CONSTANT_ANGLE", start=start, end=start + timedelta(seconds=duration), kvp=ct.kvp,
            tube_current=tube_current, exposure_time=duration, rotation_time=ct.rotation_time,
            scanning_length_mm=length, single_collimation=ct.single_collimation,
            total_collimation=ct.total_collimation, pitch=None, ctdivol=None, dlp=None, phantom=ct.ctdi_phantom))
        frame = ImageFrame(m.encode_pixels(values[0], enc), plane, start, slope=enc.rescale_slope,
                           intercept=enc.rescale_intercept, windows=window)
        series = self.series_info(spec, "CT", start, "ct_localizer")
        ct_loc = replace(ct, acquisition_type="CONSTANT_ANGLE")
        datasets = list(legacy.ct_image(self.ctx, series, [frame], enc, ct_loc, kind="ct_localizer", localizer=True,
                                        irradiation_uid=event_uid, acquisition_number=index + 1,
                                        comments=spec.image_comments))
        return SeriesResult(spec, kind, series.uid, datasets, [plane], values, duration=duration)

    # --- PET -------------------------------------------------------------------------------

    def _pet(self, spec, kind, ph, rng, start, index) -> SeriesResult:
        pet = spec.pet
        planes, _ = _planes(spec, self.limits)
        suv_table = np.array([TISSUES[t].suv for t in ph.tissues])
        suv = np.stack([_downsample(_sample(ph, p, suv_table, 2), 2) for p in planes])
        weight = self.patient.weight_kg or 75.0
        dose = pet.injected_dose_mbq * 1e6
        injection = start - timedelta(minutes=pet.uptake_minutes)
        a0 = physics.pet.activity_concentration(suv, dose, weight)
        n = len(planes)
        bed_slices = min(pet.bed_slices, n)
        overlap = min(pet.bed_overlap, bed_slices // 2)
        beds = max(1, math.ceil((n - overlap) / max(bed_slices - overlap, 1)))
        first = [min(b * (bed_slices - overlap), n - bed_slices) for b in range(beds)]
        centres = np.array([f + bed_slices / 2 for f in first])
        owner = np.argmin(np.abs(np.arange(n)[:, None] + 0.5 - centres[None, :]), axis=1)
        ps = planes[0].pixel_spacing
        voxel = (planes[0].thickness, ps[0], ps[1])
        lam = math.log(2.0) / pet.half_life
        values = np.zeros_like(a0, dtype=np.float32)
        bed_start, decay_factor = [], []
        for b in range(beds):
            t_b = start + timedelta(seconds=b * (pet.bed_duration + 5.0))
            sl = slice(first[b], first[b] + bed_slices)
            a_b = a0[sl] * physics.pet.decay((t_b - injection).total_seconds(), pet.half_life)
            img = physics.pet.acquire_frame(a_b, voxel, duration=pet.bed_duration, half_life=pet.half_life, rng=rng,
                                            sensitivity=pet.sensitivity, psf_fwhm_mm=pet.psf_fwhm,
                                            post_filter_fwhm_mm=pet.post_filter_fwhm)
            dt_ref = (t_b - start).total_seconds()
            img = img * math.exp(lam * dt_ref)  # decay-corrected to the series start (START)
            mine = owner[sl] == b
            values[sl][mine] = img[mine]
            bed_start.append(t_b)
            decay_factor.append(math.exp(lam * dt_ref) * physics.pet.frame_decay_factor(pet.bed_duration,
                                                                                      pet.half_life))
            self.tick(spec.description, int(mine.sum()))
        enc = self.encoding("pet_image")
        hi = (1 << enc.bits_stored) - 1 if not enc.pixel_representation else (1 << (enc.bits_stored - 1)) - 1
        frames = []
        for i, p in enumerate(planes):
            b = int(owner[i])
            vmax = float(values[i].max())
            slope = vmax / hi if vmax > 0 else 1.0
            stored = m.encode_pixels(values[i], enc, slope, 0.0)
            wmax = float(np.percentile(values, 99.5))
            t_ref_ms = (bed_start[b] - start).total_seconds() * 1000.0 + pet.bed_duration * 500.0
            frames.append(ImageFrame(stored, p, bed_start[b], slope=slope, intercept=0.0,
                                     windows=[(wmax / 2.0 / slope, wmax / slope)],
                                     extra={"acquisition_number": (index) * 1000 + b + 1,
                                            "frame_reference_time_ms": t_ref_ms,
                                            "decay_factor": decay_factor[b]}))
        series = self.series_info(spec, "PT", start, kind)
        ct_ac = [r for r in self.results.values() if r.kind in ("ct_image", "enhanced_ct")]
        datasets = list(legacy.pet_image(
            self.ctx, series, frames, enc, pet, injection=injection, injected_dose_bq=dose,
            related_ct_series=ct_ac[-1].uid if ct_ac else None, related_study=self.study.uid,
            reconstruction_diameter=ps[1] * planes[0].columns, comments=spec.image_comments))
        duration = beds * (pet.bed_duration + 5.0)
        return SeriesResult(spec, kind, series.uid, datasets, planes, values, duration=duration)

    # --- RT --------------------------------------------------------------------------------

    def _rt_image(self, spec, kind, ph, rng, start, index) -> SeriesResult:
        r = spec.rt_image
        planes, _ = _planes(spec, self.limits)
        receptor = planes[0]
        rows, cols = receptor.rows, receptor.columns
        spacing = receptor.pixel_spacing  # at the receptor (SID)
        mag = r.sad / r.sid
        theta = math.radians(r.gantry_angle)
        beam = np.array([-math.sin(theta), math.cos(theta), 0.0])
        u_axis = np.array([math.cos(theta), math.sin(theta), 0.0])
        v_axis = np.array([0.0, 0.0, -1.0])
        u = (np.arange(cols) - (cols - 1) / 2) * spacing[1] * mag
        v = (np.arange(rows) - (rows - 1) / 2) * spacing[0] * mag
        red = np.array([TISSUES[t].relative_electron_density for t in ph.tissues])
        red[0] = 0.0
        iso = np.asarray(r.isocentre, float)
        corner = iso + v[0] * v_axis + u[0] * u_axis
        dv, du = v_axis * (v[1] - v[0]), u_axis * (u[1] - u[0])
        path = np.zeros((rows, cols), np.float32)
        for depth in np.arange(-300.0, 300.0, 2.0):  # planes perpendicular to the beam
            path += red[ph.labels_on_grid(corner + depth * beam, dv, du, (rows, cols))] * 2.0
        field_mask = (np.abs(u)[None, :] <= r.field_size[0] / 2) & (np.abs(v)[:, None] <= r.field_size[1] / 2)
        n_frames = max(1, min(r.frames, self.limits.max_frames or r.frames))
        enc = self.encoding("rt_image")
        scale = enc.signal_scale or 30000.0
        frames, images = [], []
        for k in range(n_frames):
            img = physics.portal.transmission(path, field_mask, energy_mv=r.energy_mv, rng=rng) * scale
            images.append(img)
            stored = m.encode_pixels(img, enc, 1.0, 0.0)
            lo, hi = np.percentile(stored, [2.0, 99.8])
            frames.append(ImageFrame(stored, receptor, start + timedelta(milliseconds=k * r.frame_time),
                                     windows=[((lo + hi) / 2.0, max(hi - lo, 1.0))],
                                     extra={"frame_offset_ms": k * r.frame_time}))
        self.tick(spec.description)
        series = self.series_info(spec, "RTIMAGE", start, kind)
        ds = rt.rt_image(self.ctx, series, frames, enc, r, receptor_pixel_spacing=spacing,
                         comments=spec.image_comments)
        return SeriesResult(spec, kind, series.uid, [ds], [receptor], np.stack(images),
                            duration=n_frames * r.frame_time / 1000.0)

    def _rtstruct(self, spec, kind, ph, rng, start, index) -> SeriesResult:
        p = spec.rtstruct
        ref = self.results[p.reference]
        uids = [u for _, u in ref.references]
        rois = []
        for number, roi in enumerate(p.rois, start=1):
            found: list[tuple[np.ndarray, str | None]] = []
            if roi.point is not None:
                found.append((np.asarray([roi.point], float), None))
            else:
                tissues = tuple(roi.tissue.split("+")) if roi.tissue else ("*",)
                for plane, uid in zip(ref.planes, uids):
                    for c in contours.outline(ph, plane, tissues, margin=roi.margin):
                        found.append((c, uid))
            rois.append(rt.ROI(number, roi.name, roi.interpreted_type, roi.color, roi.algorithm, found,
                               roi.relative_electron_density))
        self.tick(spec.description)
        series = self.series_info(spec, "RTSTRUCT", start, kind)
        ds = rt.rt_structure_set(self.ctx, series, label=p.label, name=p.name, image_series_uid=ref.uid,
                                 images=ref.references, frame_of_reference_uid=self.frame_of_reference, rois=rois)
        return SeriesResult(spec, kind, series.uid, [ds], duration=60.0)

    # --- derived objects -------------------------------------------------------------------

    def _sc(self, spec, kind, ph, rng, start, index) -> SeriesResult:
        p = spec.sc
        src = self.results[p.source]
        vol = src.values
        plane = src.planes[0]
        if p.render == "mip" and vol.shape[0] > 1:
            image = vol.max(axis=1)  # coronal MIP of an axial stack: [slice, column]
            aspect = (plane.thickness if len(src.planes) < 2 else
                      abs(float(np.diff(geometry.slice_positions(src.planes[:2]))[0]))) / plane.pixel_spacing[1]
            # at least one row, whatever the slice spacing (a 2-slice stack of thin slices)
            image = ndimage.zoom(image, (max(aspect, 1.0 / image.shape[0]), 1.0), order=1)
        else:
            k = int(math.ceil(math.sqrt(vol.shape[0])))
            tiles = [vol[i] if i < vol.shape[0] else np.zeros_like(vol[0]) for i in range(k * k)]
            image = np.block([[tiles[r * k + c] for c in range(k)] for r in range(k)])
        rows, cols = p.rows, p.columns
        f = min(rows / image.shape[0], cols / image.shape[1])
        image = ndimage.zoom(image, f, order=1)
        canvas = np.full((rows, cols), float(np.min(image)))
        r0, c0 = (rows - image.shape[0]) // 2, (cols - image.shape[1]) // 2
        canvas[r0:r0 + image.shape[0], c0:c0 + image.shape[1]] = image[:rows, :cols]
        lo, hi = np.percentile(canvas, [1.0, 99.7])
        norm = np.clip((canvas - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
        enc = self.encoding("sc_image", PixelEncoding(bits_allocated=16, bits_stored=12))
        if p.photometric == "RGB":
            stored = (np.stack([norm, norm ** 0.8, norm ** 2.0], axis=-1) * 255).astype(np.uint8)
            frame = ImageFrame(stored, plane, start)
            datasets = list(legacy.sc_image(self.ctx, self.series_info(spec, "OT", start, kind), [frame], None,
                                            photometric="RGB", derivation_description=p.derivation_description,
                                            source_images=src.references[:1], comments=spec.image_comments))
        else:
            top = (1 << enc.bits_stored) - 1
            stored = m.encode_pixels(norm * top, enc, 1.0, 0.0)
            frame = ImageFrame(stored, plane, start, windows=[(top / 2.0, float(top))])
            series = self.series_info(spec, self.ctx.rule("sc_image").fixed.get("Modality", "OT"), start, kind)
            datasets = list(legacy.sc_image(self.ctx, series, [frame], enc, photometric="MONOCHROME2",
                                            derivation_description=p.derivation_description,
                                            source_images=src.references[:1], comments=spec.image_comments))
        self.tick(spec.description)
        return SeriesResult(spec, kind, datasets[0].SeriesInstanceUID, datasets, [plane], canvas[None],
                            duration=10.0)

    def _dose_sr(self, spec, kind, ph, rng, start, index) -> SeriesResult:
        if not self.events:
            raise UsageError(f"protocol {self.protocol.name!r}: the dose report {spec.description!r} has no CT "
                             "irradiation event before it", "put the dose_sr series after the CT series")
        series = self.series_info(spec, "SR", start, kind)
        ds = dose_sr.ct_dose_report(self.ctx, series, self.events, device_uid=self.uids.new("device"))
        self.tick(spec.description)
        return SeriesResult(spec, kind, series.uid, [ds], duration=1.0)

    # --- objects derived after the acquisition ---------------------------------------------

    def derive(self, kind: str, source: str | None = None) -> list[SeriesResult]:
        if kind not in DERIVED_BUILDERS and kind not in DOCUMENT_BUILDERS:
            raise UsageError(f"unknown object kind {kind!r} to derive",
                             "known: " + ", ".join(sorted([*DERIVED_BUILDERS, *DOCUMENT_BUILDERS])))
        uid = SOP_CLASSES[kind]
        created = {c.uid for c in self.profile.classes(service="storage") if c.creates}
        if uid not in created:
            raise UsageError(
                f"profile {self.profile.id!r} does not create {UID(uid).name} ({uid})",
                f"its statement lists the classes it creates: vscanner acquire --profile {self.profile.id} "
                "--list-objects")
        start = self.clock
        index = 1000 + len(self.results)
        out: list[SeriesResult] = []
        if kind in DOCUMENT_BUILDERS:
            _, build = DOCUMENT_BUILDERS[kind]
            series = self._derived_series(kind, _DOCUMENT_MODALITY.get(uid, "OT"), UID(uid).name, start,
                                          self.frame_of_reference)
            # the source: the datasets of the protocol's series and of the documents made before
            # (an RT Dose needs its RT Plan), not the derived images
            datasets = list(build(self.ctx, series, [d for r in self.acquired for d in r.datasets]))
        else:
            _, build, modality = DERIVED_BUILDERS[kind]
            res = self._source_result(source)
            src = self._source(res)
            if kind == "spatial_registration":
                rescan = self._rescan(res, index)
                out.append(rescan)
                series = self._derived_series(kind, modality, f"Registration {res.spec.description}", start,
                                              src.frame_of_reference_uid)
                datasets = build(self.ctx, series, src, self._source(rescan), np.linalg.inv(RESCAN_MOTION))
            else:
                description = f"{_DERIVED_TITLES.get(kind, kind)} {res.spec.description}"
                series = self._derived_series(kind, modality or src.modality, description, start,
                                              src.frame_of_reference_uid)
                if kind == "mr_spectroscopy":
                    datasets = build(self.ctx, series, src, rng=np.random.default_rng([self.seed, index]))
                else:
                    datasets = build(self.ctx, series, src)
        spec = SeriesSpec(kind=kind, description=series.description, series_number=series.number)
        result = SeriesResult(spec, kind, series.uid, list(datasets), start=start, duration=10.0)
        self.results[spec.description] = result
        if kind in DOCUMENT_BUILDERS:
            self.acquired.append(result)
        out.append(result)
        self.clock = start + timedelta(seconds=40.0)
        self.tick(spec.description)
        return out

    def _next_series_number(self) -> int:
        return max([int(d.SeriesNumber) for r in self.results.values() for d in r.datasets[:1]] or [0]) + 1

    def _derived_series(self, kind: str, modality: str, description: str, start: datetime,
                        frame_of_reference: str | None) -> m.SeriesInfo:
        rule = self.ctx.rule(kind)
        return m.SeriesInfo(
            uid=self.ctx.instance_uid(kind), number=rule.series_number or self._next_series_number(),
            modality=modality, description=description[:64],
            protocol_name=str(rule.fixed.get("ProtocolName", self.protocol.name)), when=start,
            body_part=self.protocol.body_part, patient_position=self.product.header.patient_position,
            operator=self.product.header.operator, frame_of_reference_uid=frame_of_reference, image_type=())

    def _source_result(self, name: str | None) -> SeriesResult:
        images = [r for r in self.results.values() if r.kind in _IMAGE_KINDS and r.values is not None]
        if name is not None:
            for r in images:
                if r.spec.description.lower() == name.lower():
                    return r
            raise UsageError(f"protocol {self.protocol.name!r} has no image series {name!r} to derive from",
                             "known: " + ", ".join(repr(r.spec.description) for r in images))
        for r in images:
            if len({p.row_cosine + p.column_cosine for p in r.planes}) == 1:
                return r
        raise UsageError(f"protocol {self.protocol.name!r} has no image series to derive objects from",
                         "choose a protocol with an MR, CT or PET series")

    def _source(self, res: SeriesResult, with_second: bool = True) -> Source:
        ph = self.phantoms[res.spec.description]
        d0 = res.datasets[0]
        same = [r for r in self.results.values() if r is not res and r.kind in _IMAGE_KINDS
                and r.values is not None and r.planes == res.planes]
        enc = self.encoding(res.kind)
        if res.kind in ("mr_image", "enhanced_mr"):
            slope, intercept = 1.0 / (enc.signal_scale or 2000.0), 0.0
        else:
            slope, intercept = enc.rescale_slope, enc.rescale_intercept
        mr = res.spec.mr
        return Source(
            series_uid=res.uid, modality=str(d0.Modality), description=res.spec.description,
            datasets=res.datasets, planes=res.planes, values=res.values,
            labels=lambda p, ph=ph: ph.labels_on_grid(*geometry.grid(p)), tissues=ph.tissues,
            frame_of_reference_uid=self.frames_of_reference.get(res.spec.description, self.frame_of_reference),
            study_uid=self.study.uid, body_part=res.spec.body_part or self.protocol.body_part, mr=mr,
            field_strength=self.product.header.field_strength or 1.5,
            frequency=self.product.header.imaging_frequency or 42.577478 * (self.product.header.field_strength or 1.5),
            value_slope=slope, value_intercept=intercept,
            second=self._source(same[0], with_second=False) if same and with_second else None)

    def _rescan(self, res: SeriesResult, index: int) -> SeriesResult:
        """The series *res* again, after the patient moved by :data:`RESCAN_MOTION`, in a new
        frame of reference (the patient was repositioned)."""
        spec = replace(res.spec, description=f"{res.spec.description} rescan"[:64],
                       series_number=self._next_series_number())
        ph = MovedPhantom(self.phantoms[res.spec.description], RESCAN_MOTION)
        saved, self.frame_of_reference = self.frame_of_reference, self.uids.new("for")
        start = self.clock
        try:
            out = getattr(self, f"_{spec.kind}")(spec, res.kind, ph, np.random.default_rng([self.seed, index]),
                                                 start, index)
        finally:
            moved_for, self.frame_of_reference = self.frame_of_reference, saved
        out.start = start
        self.results[spec.description] = out
        self.phantoms[spec.description] = ph
        self.frames_of_reference[spec.description] = moved_for
        self.clock = start + timedelta(seconds=out.duration + 30.0)
        return out


_IMAGE_KINDS = ("mr_image", "enhanced_mr", "ct_image", "enhanced_ct", "pet_image")
_DERIVED_TITLES = {"segmentation": "SEG", "mf_grayscale_sc": "MIP", "mf_true_color_sc": "Fusion",
                   "enhanced_mr_color": "Color", "rwv_mapping": "RWV", "mr_spectroscopy": "SVS",
                   "raw_data": "Raw", "gsps": "PR"}


def acquire(
    profile,
    protocol: str | Protocol | None = None,
    *,
    enhanced: bool | None = None,
    patient: m.PatientInfo | None = None,
    worklist: WorklistItem | None = None,
    seed: int = 0,
    when: datetime | None = None,
    reproducible: bool = False,
    limits: Limits = Limits(),
    progress: Progress | None = None,
    mpps_uid: str | None = None,
    derived: Sequence[str] = (),
    derive_from: str | None = None,
) -> Acquisition:
    """Run *protocol* (a name, default the product's first, or a :class:`Protocol` value)
    of *profile* and return its objects.

    *enhanced* forces enhanced (True) or legacy (False) MR/CT objects; None uses the
    product's default. *worklist* fills patient and study as the product maps them;
    otherwise *patient* is registered manually. *mpps_uid* is the SOP Instance UID of the
    exam's Modality Performed Procedure Step (from the MPPS N-CREATE); the objects reference it
    (a UID is made up for a worklist exam without one). Pixels depend only on *seed* (and the
    limits); UIDs are unique per run unless *reproducible*. *derived* names object kinds made
    after the protocol's series (:meth:`Acquisition.derive`, :func:`derivable_kinds`); they are
    checked against the profile before anything is acquired, and made from the image series
    described *derive_from* (default: the first single-orientation image series).
    """
    product = product_data_for(profile.id, profile.source)
    try:
        proto = protocol if isinstance(protocol, Protocol) else product.protocol(protocol)
    except KeyError:
        raise UsageError(f"profile {profile.id!r} has no protocol {protocol!r}",
                         "known: " + ", ".join(repr(p.name) for p in product.protocols)
                         + f" (vscanner acquire --profile {profile.id} --list-protocols)") from None
    kinds = object_kinds(profile, product, proto, enhanced)
    created = {c.uid for c in profile.classes(service="storage") if c.creates}
    for kind in derived:
        if kind not in DERIVED_BUILDERS and kind not in DOCUMENT_BUILDERS:
            raise UsageError(f"unknown object kind {kind!r} to derive",
                             "known: " + ", ".join(sorted(derivable_kinds())))
        if SOP_CLASSES[kind] not in created:
            raise UsageError(f"profile {profile.id!r} does not create {UID(SOP_CLASSES[kind]).name} "
                             f"({SOP_CLASSES[kind]})",
                             f"its statement lists the classes it creates: vscanner acquire --profile {profile.id} "
                             "--list-objects")
    when = when or datetime.now().replace(microsecond=0)
    exam = _Exam(profile, product, proto, kinds, patient=patient or m.PatientInfo(), worklist=worklist, seed=seed,
                 when=when, reproducible=reproducible, limits=limits, progress=progress, mpps_uid=mpps_uid)
    series = exam.run()
    for s in series:
        LOGGER.debug("%s %r: series %s, %d object(s) of %s", profile.id, proto.name, s.datasets[0].SeriesNumber,
                     len(s.datasets), UID(s.datasets[0].SOPClassUID).name)
    acq = Acquisition(profile.id, proto, exam.patient, exam.study, series, exam=exam)
    for kind in derived:
        acq.derive(kind, derive_from)
    return acq

