"""IOD builders: datasets assembled from the shared modules of :mod:`.modules`.

- :mod:`.legacy`: MR Image, CT Image (and the CT localizer), PET Image, Secondary Capture;
- :mod:`.enhanced`: Enhanced MR Image and Enhanced CT Image (shared and per-frame
  functional groups, Dimension Organization/Index);
- :mod:`.dose_sr`: X-Ray Radiation Dose SR (TID 10011) after a CT exam;
- :mod:`.rt`: RT Image and RT Structure Set;
- :mod:`.derived_images`: objects derived from an acquired series (Segmentation, multi-frame
  Secondary Capture, Enhanced MR Color, Real World Value Mapping, MR Spectroscopy, Raw Data);
- :mod:`.registration`: Spatial Registration and Grayscale Softcopy Presentation State;
- :mod:`.documents` and :mod:`.rt_plan_dose` (when present): document-like objects made from
  the datasets of an exam. Their ``BUILDERS`` are merged into :data:`SOP_CLASSES` and
  :data:`DOCUMENT_BUILDERS`.

Every builder takes an :class:`ObjectContext` (patient, study, equipment, the product's
rules for the object kind, character set, UIDs) and returns finished datasets with File
Meta Information; pixels arrive already encoded (:class:`ImageFrame`), so a legacy and an
enhanced object built from the same frames hold identical pixel data.
"""

from __future__ import annotations

__all__ = ["ObjectContext", "ImageFrame", "SOP_CLASSES", "DERIVED_BUILDERS", "DOCUMENT_BUILDERS", "common_modules",
           "finish"]

import logging
from dataclasses import dataclass, field
from importlib import import_module
from datetime import datetime
from typing import Any, Callable

import numpy as np
from pydicom.dataset import Dataset

from ..geometry import Plane
from ..protocols import ObjectRules, PrivateBlock
from . import modules as m
from .uids import UIDFactory

SOP_CLASSES: dict[str, str] = {
    "mr_image": "1.2.840.10008.5.1.4.1.1.4",
    "enhanced_mr": "1.2.840.10008.5.1.4.1.1.4.1",
    "ct_image": "1.2.840.10008.5.1.4.1.1.2",
    "ct_localizer": "1.2.840.10008.5.1.4.1.1.2",
    "enhanced_ct": "1.2.840.10008.5.1.4.1.1.2.1",
    "pet_image": "1.2.840.10008.5.1.4.1.1.128",
    "sc_image": "1.2.840.10008.5.1.4.1.1.7",
    "dose_sr": "1.2.840.10008.5.1.4.1.1.88.67",
    "rt_image": "1.2.840.10008.5.1.4.1.1.481.1",
    "rtstruct": "1.2.840.10008.5.1.4.1.1.481.3",
}


@dataclass
class ObjectContext:
    """Everything an IOD builder needs besides the pixels."""

    patient: m.PatientInfo
    study: m.StudyInfo
    equipment: m.Equipment
    charset: str
    created: datetime
    uids: UIDFactory
    implementation_class_uid: str
    implementation_version_name: str
    rules: dict[str, ObjectRules] = field(default_factory=dict)
    private: tuple[PrivateBlock, ...] = ()
    timezone_offset: str | None = None
    _factories: dict[str, UIDFactory] = field(default_factory=dict, repr=False)

    def rule(self, kind: str) -> ObjectRules:
        return self.rules.get(kind) or ObjectRules()

    def instance_uid(self, kind: str) -> str:
        """A SOP Instance UID under the kind's own UID root, if it has one, else the product's."""
        root = self.rule(kind).uid_root
        if not root:
            return self.uids.new(kind)
        if kind not in self._factories:
            self._factories[kind] = self.uids.derived(root)
        return self._factories[kind].new(kind)

    def equipment_for(self, kind: str) -> m.Equipment:
        """Equipment with the object kind's overrides (some products name a different
        manufacturer or model per application, e.g. COHERENCE)."""
        r = self.rule(kind)
        eq = self.equipment
        if r.manufacturer or r.model or r.software_versions:
            eq = m.Equipment(r.manufacturer or eq.manufacturer, r.model or eq.model, eq.device_serial_number,
                             r.software_versions or eq.software_versions, eq.station_name,
                             eq.institution_name, eq.institution_address, eq.department)
        return eq


@dataclass
class ImageFrame:
    """One encoded image (a legacy instance or an enhanced frame)."""

    stored: np.ndarray
    plane: Plane
    acquired: datetime
    slope: float = 1.0
    intercept: float = 0.0
    windows: list[tuple[float, float]] = field(default_factory=list)
    stack: int = 1
    in_stack: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def common_modules(ds: Dataset, ctx: ObjectContext, series: m.SeriesInfo, *, frame_of_reference: bool = True,
                   patient_position: bool = True, series_module: str = "general") -> Dataset:
    """Patient, General Study, Patient Study, the series module (``general``, ``sr`` or
    ``rt``) and Frame of Reference: the modules nearly every created object shares."""
    m.patient(ds, ctx.patient)
    m.general_study(ds, ctx.study)
    if ctx.study.patient_study_module:
        m.patient_study(ds, ctx.patient, series.when)
    if series_module == "sr":
        m.sr_document_series(ds, series, ctx.study)
    elif series_module == "rt":
        m.rt_series(ds, series, ctx.study)
    else:
        m.general_series(ds, series, ctx.study, patient_position=patient_position)
    if frame_of_reference and series.frame_of_reference_uid:
        m.frame_of_reference(ds, series.frame_of_reference_uid)
    return ds


def finish(ds: Dataset, ctx: ObjectContext, kind: str, sop_instance_uid: str) -> Dataset:
    """SOP Common, the product's fixed values and private blocks, File Meta."""
    m.sop_common(ds, SOP_CLASSES[kind], sop_instance_uid, charset=ctx.charset, created=ctx.created,
                 timezone_offset=ctx.timezone_offset)
    m.fixed_values(ds, dict(ctx.rule(kind).fixed))
    m.private_blocks(ds, ctx.private, kind)
    m.coerce_text(ds, ctx.charset)
    m.file_meta(ds, implementation_class_uid=ctx.implementation_class_uid,
                implementation_version_name=ctx.implementation_version_name)
    return ds


# --- objects made after the acquisition ----------------------------------------------------------

LOGGER = logging.getLogger(__name__)

# kind -> (SOP Class UID, builder(ctx, series, source, ...), modality of the new series or "")
DERIVED_BUILDERS: dict[str, tuple[str, Callable, str]] = {}
# kind -> (SOP Class UID, builder(ctx, series, source datasets) -> datasets)
DOCUMENT_BUILDERS: dict[str, tuple[str, Callable]] = {}


def _load_builders() -> None:
    from . import derived_images, registration

    for module in (derived_images, registration):
        DERIVED_BUILDERS.update(module.BUILDERS)
    for name in ("documents", "rt_plan_dose"):
        try:
            module = import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                LOGGER.warning("%s.%s not loaded: %s", __name__, name, exc)
            continue
        except Exception as exc:  # a broken optional builder module must not stop the others
            LOGGER.warning("%s.%s not loaded: %s", __name__, name, exc)
            continue
        builders = getattr(module, "BUILDERS", None)
        if isinstance(builders, dict):
            for kind, (uid, build, *_) in builders.items():
                DOCUMENT_BUILDERS[kind] = (uid, build)
    for kind, (uid, *_) in [*DERIVED_BUILDERS.items(), *DOCUMENT_BUILDERS.items()]:
        SOP_CLASSES.setdefault(kind, uid)


_load_builders()
