"""Enhanced multi-frame IODs: Enhanced MR Image and Enhanced CT Image.

As in highdicom's ``legacy/sop.py``, attributes that are equal for every frame go into the
Shared Functional Groups Sequence and those that vary (Frame Content, Plane Position, and
Plane Orientation for a multi-plane localizer) into the Per-Frame Functional Groups
Sequence. Frames are organised by a Multi-frame Dimension of Stack ID and In-Stack
Position Number (PS3.3 C.7.6.17), so a viewer can sort them without reading positions.
"""

from __future__ import annotations

__all__ = ["enhanced_mr_image", "enhanced_ct_image", "anatomic_region"]

from datetime import datetime, timedelta

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag

from ..protocols import CTParams, MRParams, PixelEncoding
from . import ImageFrame, ObjectContext, common_modules, finish
from . import modules as m

# Body Part Examined -> Anatomic Region (CID 4031, SNOMED CT)
_REGIONS = {
    "HEAD": ("69536005", "Head"),
    "BRAIN": ("12738006", "Brain"),
    "SKULL": ("89546000", "Skull"),
    "CHEST": ("51185008", "Thorax"),
    "ABDOMEN": ("818981001", "Abdomen"),
    "PELVIS": ("816092008", "Pelvis"),
    "WHOLEBODY": ("38266002", "Entire body"),
}


def anatomic_region(body_part: str | None) -> Dataset:
    value, meaning = _REGIONS.get((body_part or "").upper(), ("38266002", "Entire body"))
    return m.code(value, "SCT", meaning)


def _seq(**items: Dataset) -> Dataset:
    """A functional group item: ``{SequenceKeyword: item}``."""
    group = Dataset()
    for kw, item in items.items():
        setattr(group, kw, DicomSequence([item]))
    return group


def _item(**values) -> Dataset:
    ds = Dataset()
    for kw, v in values.items():
        setattr(ds, kw, v)
    return ds


def _dimensions(ds: Dataset, uid: str) -> None:
    """Multi-frame Dimension module: Stack ID, then In-Stack Position Number."""
    org = Dataset()
    org.DimensionOrganizationUID = uid
    ds.DimensionOrganizationSequence = DicomSequence([org])
    ds.DimensionOrganizationType = "3D"
    idx = []
    for kw, label in (("StackID", "Stack ID"), ("InStackPositionNumber", "In-Stack Position Number")):
        d = Dataset()
        d.DimensionOrganizationUID = uid
        d.DimensionIndexPointer = Tag(tag_for_keyword(kw))
        d.FunctionalGroupPointer = Tag(tag_for_keyword("FrameContentSequence"))
        d.DimensionDescriptionLabel = label
        idx.append(d)
    ds.DimensionIndexSequence = DicomSequence(idx)


def _frame_groups(frames: list[ImageFrame], duration_ms: float, extra_per_frame=None) -> tuple[Dataset, list[Dataset]]:
    """Per-frame Frame Content / Plane Position (and Orientation when it varies)."""
    orientations = {f.plane.row_cosine + f.plane.column_cosine for f in frames}
    per_frame_orientation = len(orientations) > 1
    per = []
    for i, f in enumerate(frames):
        fc = Dataset()
        fc.FrameAcquisitionNumber = 1
        fc.FrameReferenceDateTime = m.dt(f.acquired)
        fc.FrameAcquisitionDateTime = m.dt(f.acquired)
        fc.FrameAcquisitionDuration = float(duration_ms)
        fc.StackID = str(f.stack)
        fc.InStackPositionNumber = f.in_stack
        fc.DimensionIndexValues = [f.stack, f.in_stack]
        g = Dataset()
        g.FrameContentSequence = DicomSequence([fc])
        g.PlanePositionSequence = DicomSequence([_item(ImagePositionPatient=[m.ds_str(v, 4) for v in f.plane.position])])
        if per_frame_orientation:
            g.PlaneOrientationSequence = DicomSequence([_orientation(f)])
        if extra_per_frame:
            extra_per_frame(g, f)
        per.append(g)
    shared = Dataset()
    if not per_frame_orientation:
        shared.PlaneOrientationSequence = DicomSequence([_orientation(frames[0])])
    return shared, per


def _orientation(f: ImageFrame) -> Dataset:
    return _item(ImageOrientationPatient=[m.ds_str(v) for v in (*f.plane.row_cosine, *f.plane.column_cosine)])


def _multiframe(ds: Dataset, shared: Dataset, per: list[Dataset], frames: list[ImageFrame], number: int,
                content: datetime) -> None:
    """Multi-frame Functional Groups module (C.7.6.16) and the pixels of all frames."""
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per)
    ds.InstanceNumber = number
    ds.ContentDate = m.da(content)
    ds.ContentTime = m.tm(content)
    ds.NumberOfFrames = len(frames)


def _stacked(frames: list[ImageFrame]) -> np.ndarray:
    return np.stack([f.stored for f in frames])


def _common_enhanced(ds: Dataset, shared: Dataset, ctx: ObjectContext, kind: str, series: m.SeriesInfo,
                     frames: list[ImageFrame], enc: PixelEncoding, image_type, rescale_type: str) -> None:
    """Modules and shared functional groups both enhanced IODs have."""
    common_modules(ds, ctx, series)
    eq = ctx.equipment_for(kind)
    m.general_equipment(ds, eq)
    m.enhanced_general_equipment(ds, eq)
    m.image_pixel(ds, _stacked(frames), enc, smallest_largest=False)
    f0 = frames[0]
    shared.PixelMeasuresSequence = DicomSequence([_item(
        PixelSpacing=[m.ds_str(f0.plane.pixel_spacing[0]), m.ds_str(f0.plane.pixel_spacing[1])],
        SliceThickness=m.ds_str(f0.plane.thickness))])
    anat = Dataset()
    anat.AnatomicRegionSequence = DicomSequence([anatomic_region(series.body_part)])
    anat.FrameLaterality = "U"
    shared.FrameAnatomySequence = DicomSequence([anat])
    shared.PixelValueTransformationSequence = DicomSequence([_item(
        RescaleIntercept=m.ds_str(f0.intercept), RescaleSlope=m.ds_str(f0.slope), RescaleType=rescale_type)])
    if f0.windows:
        c, w = f0.windows[0]
        shared.FrameVOILUTSequence = DicomSequence([_item(WindowCenter=m.ds_str(c, 2), WindowWidth=m.ds_str(w, 2))])
    ds.ImageType = list(image_type)
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.ContentQualification = "PRODUCT"
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = m.dt(f0.acquired)
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    _dimensions(ds, ctx.uids.new("dimension"))


# --- Enhanced MR -----------------------------------------------------------------------------


def _mr_shared_groups(shared: Dataset, mr: MRParams, image_type, *, frequency: float, matrix: tuple[int, int],
                      slices: int, manufacturer: str) -> None:
    """The MR functional group macros (C.8.13.5) that are equal for all frames."""
    shared.MRImageFrameTypeSequence = DicomSequence([_item(
        FrameType=list(image_type), PixelPresentation="MONOCHROME", VolumetricProperties="VOLUME",
        VolumeBasedCalculationTechnique="NONE", ComplexImageComponent="MAGNITUDE",
        AcquisitionContrast=mr.contrast)])
    timing = _item(RepetitionTime=float(mr.tr), FlipAngle=float(mr.flip), EchoTrainLength=mr.echo_train_length,
                   RFEchoTrainLength=mr.echo_train_length if mr.sequence in ("SE", "TSE", "IR") else 0,
                   GradientEchoTrainLength=1 if mr.sequence == "GRE" else 0,
                   GradientOutputType="DB_DT", GradientOutput=float(mr.dbdt))
    sar = _item(SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY", SpecificAbsorptionRateValue=float(mr.sar))
    timing.SpecificAbsorptionRateSequence = DicomSequence([sar])
    op = _item(OperatingModeType="STATIC FIELD", OperatingMode="IEC_NORMAL")
    timing.OperatingModeSequence = DicomSequence([op])
    shared.MRTimingAndRelatedParametersSequence = DicomSequence([timing])
    acq = mr.acquisition_matrix or matrix
    read, phase = (acq[0], acq[1]) if mr.phase_direction == "ROW" else (acq[1], acq[0])
    fov = _item(InPlanePhaseEncodingDirection=mr.phase_direction, MRAcquisitionFrequencyEncodingSteps=read,
                MRAcquisitionPhaseEncodingStepsInPlane=int(phase * mr.percent_sampling / 100.0),
                PercentSampling=float(mr.percent_sampling), PercentPhaseFieldOfView=float(mr.percent_phase_fov))
    if mr.acquisition_type == "3D":
        fov.MRAcquisitionPhaseEncodingStepsOutOfPlane = slices
    shared.MRFOVGeometrySequence = DicomSequence([fov])
    shared.MREchoSequence = DicomSequence([_item(EffectiveEchoTime=float(mr.te))])
    ir = "IR" in mr.scanning_sequence
    mod = _item(InversionRecovery="YES" if ir else "NO", FlowCompensation="NONE", T2Preparation="NO",
                SpectrallySelectedExcitation="NONE", SpatialPresaturation="NONE", PartialFourier="NO",
                ParallelAcquisition="NO")
    if ir:
        mod.InversionTimes = [float(mr.ti or 0.0)]
    shared.MRModifierSequence = DicomSequence([mod])
    shared.MRImagingModifierSequence = DicomSequence([_item(
        MagnetizationTransfer="NONE", BloodSignalNulling="NO", Tagging="NONE",
        TransmitterFrequency=float(frequency), PixelBandwidth=float(mr.bandwidth))])
    coil = _item(ReceiveCoilName=mr.receive_coil, ReceiveCoilManufacturerName=manufacturer,
                 ReceiveCoilType="MULTICOIL", QuadratureReceiveCoil="NO")
    coil.MultiCoilDefinitionSequence = DicomSequence([
        _item(MultiCoilElementName=f"E{i}", MultiCoilElementUsed="YES") for i in range(1, 5)])
    shared.MRReceiveCoilSequence = DicomSequence([coil])
    shared.MRTransmitCoilSequence = DicomSequence([_item(
        TransmitCoilName=mr.transmit_coil, TransmitCoilManufacturerName=manufacturer, TransmitCoilType="BODY")])
    shared.MRDiffusionSequence = DicomSequence([_item(DiffusionBValue=0.0, DiffusionDirectionality="NONE")])
    shared.MRAveragesSequence = DicomSequence([_item(NumberOfAverages=float(mr.averages))])
    shared.MRSpatialSaturationSequence = DicomSequence([])


def _mr_pulse_sequence(ds: Dataset, mr: MRParams) -> None:
    """MR Pulse Sequence module (C.8.13.4)."""
    ds.PulseSequenceName = mr.sequence_name or mr.sequence
    ds.MRAcquisitionType = mr.acquisition_type
    ds.EchoPulseSequence = "GRADIENT" if mr.sequence == "GRE" else "SPIN"
    if mr.sequence != "GRE":  # 1C: only when Echo Pulse Sequence is SPIN or BOTH
        ds.MultipleSpinEcho = "YES" if mr.echo_train_length > 1 else "NO"
    ds.MultiPlanarExcitation = "NO" if mr.acquisition_type == "3D" else "YES"
    ds.PhaseContrast = "NO"
    ds.TimeOfFlightContrast = "NO"
    ds.SteadyStatePulseSequence = "NONE"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SaturationRecovery = "NO"
    ds.SpectrallySelectedSuppression = "NONE"
    ds.OversamplingPhase = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.RectilinearPhaseEncodeReordering = "LINEAR" if mr.echo_train_length == 1 else "SEGMENTED"
    ds.SegmentedKSpaceTraversal = "SINGLE" if mr.echo_train_length == 1 else "PARTIAL"
    if mr.acquisition_type == "3D":
        ds.CoverageOfKSpace = "FULL"
    ds.NumberOfKSpaceTrajectories = 1


def enhanced_mr_image(ctx: ObjectContext, series: m.SeriesInfo, frames: list[ImageFrame], enc: PixelEncoding,
                      mr: MRParams, *, field_strength: float, frequency: float, duration_s: float,
                      spacing_between_slices: float | None, comments: str | None = None) -> Dataset:
    """Enhanced MR Image IOD (A.36.2): all frames of the series in one instance."""
    rule = ctx.rule("enhanced_mr")
    image_type = rule.image_type or ("ORIGINAL", "PRIMARY", "VOLUME", "NONE")  # 4 values (C.8.16.1)
    ds = Dataset()
    shared, per = _frame_groups(frames, duration_s * 1000.0 / max(len(frames), 1))
    _common_enhanced(ds, shared, ctx, "enhanced_mr", series, frames, enc, image_type, "US")
    _mr_shared_groups(shared, mr, image_type, frequency=frequency, matrix=(frames[0].plane.rows, frames[0].plane.columns),
                      slices=len(frames), manufacturer=ctx.equipment_for("enhanced_mr").manufacturer)
    _multiframe(ds, shared, per, frames, rule.instance_number_start, frames[0].acquired + timedelta(seconds=duration_s))
    # Enhanced MR Image module (C.8.13.1) and MR Image Description macro
    ds.AcquisitionDuration = float(duration_s)
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.MagneticFieldStrength = m.ds_str(field_strength)
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = mr.contrast
    if spacing_between_slices:
        shared.PixelMeasuresSequence[0].SpacingBetweenSlices = m.ds_str(spacing_between_slices)
    if comments:
        ds.ImageComments = comments
    _mr_pulse_sequence(ds, mr)
    ds.AcquisitionContextSequence = DicomSequence([])
    return finish(ds, ctx, "enhanced_mr", ctx.instance_uid("enhanced_mr"))


# --- Enhanced CT -----------------------------------------------------------------------------

_KERNEL_GROUP = {"soft": "SOFT_TISSUE", "standard": "STANDARD", "sharp": "BONE"}


def enhanced_ct_image(ctx: ObjectContext, series: m.SeriesInfo, frames: list[ImageFrame], enc: PixelEncoding,
                      ct: CTParams, *, ctdivol: float, irradiation_uid: str, duration_s: float,
                      comments: str | None = None) -> Dataset:
    """Enhanced CT Image IOD (A.38.1): all frames of the series in one instance."""
    rule = ctx.rule("enhanced_ct")
    image_type = rule.image_type or ("ORIGINAL", "PRIMARY", "VOLUME", "NONE")  # 4 values (C.8.16.1)

    def position(g: Dataset, f: ImageFrame) -> None:
        c = f.plane.centre
        g.CTPositionSequence = DicomSequence([_item(
            TablePosition=float(-c[2]), ReconstructionTargetCenterPatient=[float(v) for v in c],
            DataCollectionCenterPatient=[0.0, 0.0, float(c[2])])])

    ds = Dataset()
    shared, per = _frame_groups(frames, duration_s * 1000.0 / max(len(frames), 1), position)
    _common_enhanced(ds, shared, ctx, "enhanced_ct", series, frames, enc, image_type, enc.rescale_type or "HU")
    f0 = frames[0]
    shared.CTImageFrameTypeSequence = DicomSequence([_item(
        FrameType=list(image_type), PixelPresentation="MONOCHROME", VolumetricProperties="VOLUME",
        VolumeBasedCalculationTechnique="NONE")])
    shared.IrradiationEventIdentificationSequence = DicomSequence([_item(IrradiationEventUID=irradiation_uid)])
    shared.CTAcquisitionTypeSequence = DicomSequence([_item(
        AcquisitionType=ct.acquisition_type, ConstantVolumeFlag="NO", FluoroscopyFlag="NO")])
    shared.CTAcquisitionDetailsSequence = DicomSequence([_item(
        DataCollectionDiameter=float(ct.data_collection_diameter), GantryDetectorTilt=float(ct.gantry_tilt),
        TableHeight=float(ct.table_height), RotationDirection="CW", RevolutionTime=float(ct.rotation_time),
        SingleCollimationWidth=float(ct.single_collimation), TotalCollimationWidth=float(ct.total_collimation))])
    if ct.acquisition_type != "CONSTANT_ANGLE":  # table moves between (SEQUENCED) or during (SPIRAL) rotations
        spiral = ct.acquisition_type == "SPIRAL"
        feed = ct.pitch * ct.total_collimation if spiral else ct.total_collimation  # sequenced: step between rotations
        dyn = _item(TableSpeed=feed / ct.rotation_time if spiral else 0.0, TableFeedPerRotation=feed)
        if ct.acquisition_type == "SPIRAL":
            dyn.SpiralPitchFactor = float(ct.pitch)
        shared.CTTableDynamicsSequence = DicomSequence([dyn])
    shared.CTGeometrySequence = DicomSequence([_item(
        DistanceSourceToDetector=float(ct.distance_source_to_detector),
        DistanceSourceToDataCollectionCenter=float(ct.distance_source_to_patient))])
    diameter = f0.plane.pixel_spacing[1] * f0.plane.columns
    shared.CTReconstructionSequence = DicomSequence([_item(
        ReconstructionAlgorithm="FILTER_BACK_PROJ", ConvolutionKernel=ct.kernel,
        ConvolutionKernelGroup=_KERNEL_GROUP[ct.kernel_class], ReconstructionDiameter=float(diameter),
        ReconstructionPixelSpacing=[float(v) for v in f0.plane.pixel_spacing], ReconstructionAngle=360.0,
        ImageFilter=ct.kernel)])
    mas_rotation = ct.mas * ct.pitch
    exposure = _item(ExposureTimeInms=ct.rotation_time * 1000.0, XRayTubeCurrentInmA=mas_rotation / ct.rotation_time,
                     ExposureInmAs=float(mas_rotation), ExposureModulationType=ct.exposure_modulation_type,
                     CTDIvol=float(round(ctdivol, 4)))
    phantom = {"body": ("113691", "IEC Body Dosimetry Phantom"), "head": ("113690", "IEC Head Dosimetry Phantom")}
    value, meaning = phantom[ct.ctdi_phantom]
    exposure.CTDIPhantomTypeCodeSequence = DicomSequence([m.code(value, "DCM", meaning)])
    shared.CTExposureSequence = DicomSequence([exposure])
    shared.CTXRayDetailsSequence = DicomSequence([_item(
        KVP=float(ct.kvp), FocalSpots=[float(ct.focal_spot)], FilterType=ct.filter_type, FilterMaterial=["ALUMINUM"])])
    _multiframe(ds, shared, per, frames, rule.instance_number_start, f0.acquired + timedelta(seconds=duration_s))
    ds.AcquisitionDuration = float(duration_s)
    if comments:
        ds.ImageComments = comments
    ds.AcquisitionContextSequence = DicomSequence([])
    return finish(ds, ctx, "enhanced_ct", ctx.instance_uid("enhanced_ct"))
