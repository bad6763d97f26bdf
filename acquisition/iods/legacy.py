"""Single-frame ("legacy") image IODs: MR Image, CT Image, PET Image, Secondary Capture.

One dataset per :class:`~acquisition.iods.ImageFrame`. The MR and CT acquisition
attributes (sequence timing, exposure) come from the series' protocol parameters, so the
same numbers appear in the enhanced objects' functional groups (:mod:`.enhanced`).
"""

from __future__ import annotations

__all__ = ["mr_image", "ct_image", "pet_image", "sc_image", "mr_attributes", "ct_attributes"]

from datetime import datetime, timedelta
from typing import Iterator

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ..protocols import CTParams, MRParams, PETParams, PixelEncoding
from . import ImageFrame, ObjectContext, common_modules, finish
from . import modules as m


def _image_common(ds: Dataset, ctx: ObjectContext, kind: str, series: m.SeriesInfo, frame: ImageFrame,
                  number: int, acquisition_number: int, image_type, comments, *, irradiation_uid=None,
                  plane: bool = True, patient_position: bool = True) -> None:
    common_modules(ds, ctx, series, patient_position=patient_position)
    m.general_equipment(ds, ctx.equipment_for(kind))
    m.general_acquisition(ds, acquisition_number, frame.acquired, irradiation_event_uid=irradiation_uid)
    m.general_image(ds, instance_number=number, content=frame.acquired + timedelta(seconds=2),
                    image_type=image_type, comments=comments)
    if plane:
        m.image_plane(ds, frame.plane)


# --- MR ---------------------------------------------------------------------------------------


def mr_attributes(ds: Dataset, mr: MRParams, *, field_strength: float, frequency: float, matrix: tuple[int, int],
                  spacing_between_slices: float | None) -> Dataset:
    """The acquisition attributes of the MR Image module (C.8.3.1)."""
    ds.ScanningSequence = list(mr.scanning_sequence)
    ds.SequenceVariant = list(mr.sequence_variant)
    ds.ScanOptions = list(mr.scan_options) if mr.scan_options else ""
    ds.MRAcquisitionType = mr.acquisition_type
    if mr.sequence_name:
        ds.SequenceName = mr.sequence_name
    ds.AngioFlag = "N"
    ds.RepetitionTime = m.ds_str(mr.tr, 2)
    ds.EchoTime = m.ds_str(mr.te, 2)
    if "IR" in mr.scanning_sequence:
        ds.InversionTime = m.ds_str(mr.ti or 0.0, 2)
    ds.NumberOfAverages = m.ds_str(mr.averages)
    ds.ImagingFrequency = m.ds_str(frequency, 6)
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = m.ds_str(field_strength)
    if spacing_between_slices:
        ds.SpacingBetweenSlices = m.ds_str(spacing_between_slices)
    acq = mr.acquisition_matrix or matrix
    phase_steps = acq[0] if mr.phase_direction == "COL" else acq[1]
    ds.NumberOfPhaseEncodingSteps = int(phase_steps * mr.percent_sampling / 100.0)
    ds.EchoTrainLength = mr.echo_train_length
    ds.PercentSampling = m.ds_str(mr.percent_sampling)
    ds.PercentPhaseFieldOfView = m.ds_str(mr.percent_phase_fov)
    ds.PixelBandwidth = m.ds_str(mr.bandwidth)
    ds.ReceiveCoilName = mr.receive_coil
    ds.TransmitCoilName = mr.transmit_coil
    # (frequency rows, frequency columns, phase rows, phase columns)
    ds.AcquisitionMatrix = [0, acq[1], acq[0], 0] if mr.phase_direction == "COL" else [acq[0], 0, 0, acq[1]]
    ds.InPlanePhaseEncodingDirection = mr.phase_direction
    ds.FlipAngle = m.ds_str(mr.flip)
    ds.VariableFlipAngleFlag = "N"
    ds.SAR = m.ds_str(mr.sar, 4)
    ds.dBdt = m.ds_str(mr.dbdt, 2)
    return ds


def mr_image(ctx: ObjectContext, series: m.SeriesInfo, frames: list[ImageFrame], enc: PixelEncoding,
             mr: MRParams, *, field_strength: float, frequency: float, spacing_between_slices: float | None,
             comments: str | None = None) -> Iterator[Dataset]:
    """MR Image IOD (A.4): one instance per frame."""
    rule = ctx.rule("mr_image")
    image_type = series.image_type or rule.image_type or ("ORIGINAL", "PRIMARY", "OTHER")
    for i, f in enumerate(frames):
        ds = Dataset()
        _image_common(ds, ctx, "mr_image", series, f, rule.instance_number_start + i, 1, image_type, comments)
        m.image_pixel(ds, f.stored, enc)
        mr_attributes(ds, mr, field_strength=field_strength, frequency=frequency,
                      matrix=(f.plane.rows, f.plane.columns), spacing_between_slices=spacing_between_slices)
        ds.ReconstructionDiameter = m.ds_str(f.plane.pixel_spacing[1] * f.plane.columns)
        m.voi_lut(ds, f.windows)
        yield finish(ds, ctx, "mr_image", ctx.instance_uid("mr_image"))


# --- CT ---------------------------------------------------------------------------------------


def ct_attributes(ds: Dataset, ct: CTParams, *, reconstruction_diameter: float | None, localizer: bool,
                  ctdivol: float | None) -> Dataset:
    """The acquisition attributes of the CT Image module (C.8.2.1)."""
    ds.KVP = m.ds_str(ct.kvp)
    ds.ScanOptions = "TOPOGRAM" if localizer else ct.scan_options
    ds.DataCollectionDiameter = m.ds_str(ct.data_collection_diameter)
    if reconstruction_diameter:
        ds.ReconstructionDiameter = m.ds_str(reconstruction_diameter)
    ds.DistanceSourceToDetector = m.ds_str(ct.distance_source_to_detector)
    ds.DistanceSourceToPatient = m.ds_str(ct.distance_source_to_patient)
    ds.GantryDetectorTilt = m.ds_str(ct.gantry_tilt)
    ds.TableHeight = m.ds_str(ct.table_height)
    ds.RotationDirection = "CW"
    mas_rotation = ct.mas * ct.pitch  # effective mAs = mAs per rotation / pitch
    current = mas_rotation / ct.rotation_time
    ds.ExposureTime = str(int(round(ct.rotation_time * 1000)))
    ds.XRayTubeCurrent = str(int(round(current)))
    ds.Exposure = str(int(round(mas_rotation)))  # mAs = tube current x exposure time
    ds.FilterType = ct.filter_type
    ds.GeneratorPower = ct.generator_power
    ds.FocalSpots = m.ds_str(ct.focal_spot)
    if not localizer:
        ds.ConvolutionKernel = ct.kernel
        ds.RevolutionTime = float(ct.rotation_time)
        ds.SingleCollimationWidth = ct.single_collimation
        ds.TotalCollimationWidth = ct.total_collimation
        if ct.acquisition_type == "SPIRAL":
            feed = ct.pitch * ct.total_collimation
            ds.TableFeedPerRotation = feed
            ds.TableSpeed = feed / ct.rotation_time
            ds.SpiralPitchFactor = ct.pitch
    ds.ExposureModulationType = ct.exposure_modulation_type
    if ctdivol is not None:
        ds.CTDIvol = round(ctdivol, 4)
        phantom = {"body": ("113691", "IEC Body Dosimetry Phantom"), "head": ("113690", "IEC Head Dosimetry Phantom")}
        value, meaning = phantom[ct.ctdi_phantom]
        ds.CTDIPhantomTypeCodeSequence = DicomSequence([m.code(value, "DCM", meaning)])
    return ds


def ct_image(ctx: ObjectContext, series: m.SeriesInfo, frames: list[ImageFrame], enc: PixelEncoding,
             ct: CTParams, *, kind: str = "ct_image", localizer: bool = False, ctdivol: float | None = None,
             irradiation_uid: str | None = None, acquisition_number: int = 1,
             referenced_localizers: list[tuple[str, str]] = (), comments: str | None = None,
             window_explanations: tuple[str, ...] = ()) -> Iterator[Dataset]:
    """CT Image IOD (A.3): one instance per frame; *kind* ``ct_localizer`` for the topogram."""
    rule = ctx.rule(kind)
    image_type = series.image_type or rule.image_type or (("ORIGINAL", "PRIMARY", "LOCALIZER") if localizer
                                     else ("ORIGINAL", "PRIMARY", "AXIAL"))
    for i, f in enumerate(frames):
        ds = Dataset()
        _image_common(ds, ctx, kind, series, f, rule.instance_number_start + i, acquisition_number, image_type,
                      comments, irradiation_uid=irradiation_uid)
        if referenced_localizers:
            refs = []
            for cls, uid in referenced_localizers:
                r = Dataset()
                r.ReferencedSOPClassUID = cls
                r.ReferencedSOPInstanceUID = uid
                refs.append(r)
            ds.ReferencedImageSequence = DicomSequence(refs)
        m.image_pixel(ds, f.stored, enc)
        ds.RescaleIntercept = m.ds_str(f.intercept)
        ds.RescaleSlope = m.ds_str(f.slope)
        if enc.rescale_type or not localizer:
            ds.RescaleType = enc.rescale_type or "HU"
        ct_attributes(ds, ct, reconstruction_diameter=None if localizer else f.plane.pixel_spacing[1] * f.plane.columns,
                      localizer=localizer, ctdivol=ctdivol)
        m.voi_lut(ds, f.windows, window_explanations)
        yield finish(ds, ctx, kind, ctx.instance_uid(kind))


# --- PET --------------------------------------------------------------------------------------


def _tm(t: datetime) -> str:
    return t.strftime("%H%M%S.%f")[:13]


def pet_image(ctx: ObjectContext, series: m.SeriesInfo, frames: list[ImageFrame], enc: PixelEncoding,
              pet: PETParams, *, injection: datetime, injected_dose_bq: float, related_ct_series: str | None,
              related_study: str, reconstruction_diameter: float, comments: str | None = None) -> Iterator[Dataset]:
    """PET Image IOD (A.21): one instance per slice; Units BQML, Decay Correction START."""
    rule = ctx.rule("pet_image")
    image_type = series.image_type or rule.image_type or ("ORIGINAL", "PRIMARY")
    for i, f in enumerate(frames):
        ds = Dataset()
        # Patient Position "shall not be present" with Patient Orientation Code Sequence (C.7.3.1);
        # the statement (T-75) writes both: the standard wins here.
        _image_common(ds, ctx, "pet_image", series, f, rule.instance_number_start + i,
                      f.extra["acquisition_number"], image_type, comments, patient_position=False)
        if related_ct_series:
            rel = Dataset()
            rel.StudyInstanceUID = related_study
            rel.SeriesInstanceUID = related_ct_series
            rel.PurposeOfReferenceCodeSequence = DicomSequence([
                m.code("122403", "DCM", "For Attenuation Correction")])
            ds.RelatedSeriesSequence = DicomSequence([rel])
        # PET Series module (C.8.9.1)
        ds.Units = pet.units
        ds.CountsSource = "EMISSION"
        ds.SeriesType = list(pet.series_type)
        ds.NumberOfSlices = len(frames)
        ds.CorrectedImage = list(pet.corrected_image)
        ds.RandomsCorrectionMethod = pet.randoms_correction_method
        ds.AttenuationCorrectionMethod = pet.attenuation_correction_method
        ds.ScatterCorrectionMethod = pet.scatter_correction_method
        ds.DecayCorrection = "START"
        ds.ReconstructionDiameter = m.ds_str(reconstruction_diameter)
        ds.ConvolutionKernel = pet.convolution_kernel
        ds.ReconstructionMethod = pet.reconstruction_method
        ds.CollimatorType = "NONE"
        ds.AxialAcceptance = m.ds_str(pet.axial_acceptance)
        ds.AxialMash = list(pet.axial_mash)
        ds.FieldOfViewShape = "CYLINDRICAL RING"
        ds.FieldOfViewDimensions = [int(round(reconstruction_diameter)), 216]
        ds.GantryDetectorTilt = "0"
        win = Dataset()
        win.EnergyWindowLowerLimit = m.ds_str(pet.energy_window[0])
        win.EnergyWindowUpperLimit = m.ds_str(pet.energy_window[1])
        ds.EnergyWindowRangeSequence = DicomSequence([win])
        # PET Isotope module (C.8.9.2)
        rp = Dataset()
        rp.Radiopharmaceutical = pet.radiopharmaceutical
        rp.RadiopharmaceuticalStartTime = _tm(injection)
        rp.RadiopharmaceuticalStartDateTime = m.dt(injection)
        rp.RadionuclideTotalDose = m.ds_str(injected_dose_bq, 1)
        rp.RadionuclideHalfLife = m.ds_str(pet.half_life, 2)
        rp.RadionuclidePositronFraction = m.ds_str(pet.positron_fraction)
        rp.RadionuclideCodeSequence = DicomSequence([m.code(*pet.radionuclide_code)])
        rp.RadiopharmaceuticalCodeSequence = DicomSequence([m.code(*pet.radiopharmaceutical_code)])
        ds.RadiopharmaceuticalInformationSequence = DicomSequence([rp])
        # NM/PET Patient Orientation module (C.8.4.6)
        orient = m.code("102538003", "SCT", "recumbent")  # CID 19; the statement names no codes
        orient.PatientOrientationModifierCodeSequence = DicomSequence([m.code("40199007", "SCT", "supine")])
        ds.PatientOrientationCodeSequence = DicomSequence([orient])
        ds.PatientGantryRelationshipCodeSequence = DicomSequence([m.code("102540008", "SCT", "headfirst")])
        # Image Pixel + PET Image module (C.8.9.4)
        m.image_pixel(ds, f.stored, enc)
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = m.ds_str(f.slope, 8)
        ds.FrameReferenceTime = m.ds_str(f.extra["frame_reference_time_ms"], 1)
        ds.ImageIndex = i + 1
        ds.ActualFrameDuration = int(round(pet.bed_duration * 1000))
        ds.DecayFactor = m.ds_str(f.extra["decay_factor"], 6)
        ds.DoseCalibrationFactor = "1"
        ds.SliceSensitivityFactor = "1"
        m.voi_lut(ds, f.windows)
        yield finish(ds, ctx, "pet_image", ctx.instance_uid("pet_image"))


# --- Secondary Capture ------------------------------------------------------------------------


def sc_image(ctx: ObjectContext, series: m.SeriesInfo, frames: list[ImageFrame], enc: PixelEncoding | None, *,
             photometric: str, derivation_description: str, source_images: list[tuple[str, str]] = (),
             comments: str | None = None) -> Iterator[Dataset]:
    """Secondary Capture Image IOD (A.8.1): Conversion Type from the product (``WSD``)."""
    rule = ctx.rule("sc_image")
    image_type = series.image_type or rule.image_type or ("DERIVED", "SECONDARY")
    eq = ctx.equipment_for("sc_image")
    for i, f in enumerate(frames):
        ds = Dataset()
        common_modules(ds, ctx, series, frame_of_reference=False, patient_position=False)
        m.general_equipment(ds, eq)
        ds.ConversionType = "WSD"
        ds.SecondaryCaptureDeviceManufacturer = eq.manufacturer
        ds.SecondaryCaptureDeviceManufacturerModelName = eq.model
        ds.SecondaryCaptureDeviceSoftwareVersions = list(eq.software_versions)
        m.general_image(ds, instance_number=rule.instance_number_start + i, content=ctx.created,
                        image_type=image_type, comments=comments, patient_orientation=())
        ds.DerivationDescription = derivation_description
        if source_images:
            items = []
            for cls, uid in source_images:
                r = Dataset()
                r.ReferencedSOPClassUID = cls
                r.ReferencedSOPInstanceUID = uid
                items.append(r)
            ds.SourceImageSequence = DicomSequence(items)
        ds.DateOfSecondaryCapture = m.da(ctx.created)
        ds.TimeOfSecondaryCapture = m.tm(ctx.created)
        m.image_pixel(ds, f.stored, enc, photometric=photometric)
        if photometric != "RGB":
            m.voi_lut(ds, f.windows)
        yield finish(ds, ctx, "sc_image", ctx.instance_uid("sc_image"))
