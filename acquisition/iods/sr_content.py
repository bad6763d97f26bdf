"""SR content items (PS3.3 C.17.3): the building blocks of the content trees the products'
SR documents carry (X-Ray Radiation Dose SR, measurement reports, Key Object Selection).

Each function returns one content item; *rel* is the Relationship Type (None for the root),
*concept* the Concept Name as ``(code value, scheme, meaning)``.
"""

from __future__ import annotations

__all__ = ["item", "container", "text", "code", "uidref", "pname", "datetime_item", "num"]

from datetime import datetime

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from . import modules as m


def item(rel: str | None, value_type: str, concept: tuple[str, str, str] | None) -> Dataset:
    it = Dataset()
    if rel:
        it.RelationshipType = rel
    it.ValueType = value_type
    if concept:
        it.ConceptNameCodeSequence = DicomSequence([m.code(*concept)])
    return it


def container(rel: str | None, concept, children: list[Dataset], template: str | None = None) -> Dataset:  # type: ignore[no-untyped-def]
    it = item(rel, "CONTAINER", concept)
    it.ContinuityOfContent = "SEPARATE"
    if template:
        t = Dataset()
        t.MappingResource = "DCMR"
        t.TemplateIdentifier = template
        it.ContentTemplateSequence = DicomSequence([t])
    if children:
        it.ContentSequence = DicomSequence(children)
    return it


def text(rel, concept, value: str) -> Dataset:  # type: ignore[no-untyped-def]
    it = item(rel, "TEXT", concept)
    it.TextValue = value
    return it


def code(rel, concept, value: tuple[str, str, str] | Dataset) -> Dataset:  # type: ignore[no-untyped-def]
    it = item(rel, "CODE", concept)
    it.ConceptCodeSequence = DicomSequence([value if isinstance(value, Dataset) else m.code(*value)])
    return it


def uidref(rel, concept, uid: str) -> Dataset:  # type: ignore[no-untyped-def]
    it = item(rel, "UIDREF", concept)
    it.UID = uid
    return it


def pname(rel, concept, name: str) -> Dataset:  # type: ignore[no-untyped-def]
    it = item(rel, "PNAME", concept)
    it.PersonName = name
    return it


def datetime_item(rel, concept, when: datetime) -> Dataset:  # type: ignore[no-untyped-def]
    it = item(rel, "DATETIME", concept)
    it.DateTime = m.dt(when)
    return it


def num(rel, concept, value: float, unit: tuple[str, str], modifiers: list[Dataset] = (), digits: int = 4) -> Dataset:  # type: ignore[no-untyped-def,assignment]
    """NUM with one Measured Value; *unit* is the UCUM ``(code, meaning)``."""
    it = item(rel, "NUM", concept)
    mv = Dataset()
    mv.MeasurementUnitsCodeSequence = DicomSequence([m.code(unit[0], "UCUM", unit[1])])
    mv.NumericValue = m.ds_str(value, digits)
    it.MeasuredValueSequence = DicomSequence([mv])
    if modifiers:
        it.ContentSequence = DicomSequence(list(modifiers))
    return it
