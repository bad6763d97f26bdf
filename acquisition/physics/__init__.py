"""Imaging physics: pure numpy/scipy functions from tissue properties to pixel values.

Nothing here knows about DICOM: functions take arrays and physical parameters (ms, mm,
kVp, mAs, Bq, s) and return arrays in physical units (MR signal, CT numbers in HU, PET
activity concentration in Bq/ml, portal image transmission). Randomness comes only from
the ``numpy.random.Generator`` passed in, so a seed reproduces every pixel.
"""

from . import ct, mr, pet, portal

__all__ = ["ct", "mr", "pet", "portal"]
