"""PET: FDG activity from SUV, radioactive decay, Poisson counts, PSF blur, quantification.

The chain for one bed position (frame):

1. activity concentration at injection ``A0 = SUV * injected dose / body weight``
   (Bq/ml, tissue density 1 g/ml);
2. decay to the frame start ``A(t0) = A0 exp(-lambda t0)``;
3. blur with the scanner's point spread function (3-D Gaussian, FWHM in mm);
4. expected counts per voxel during the frame
   ``N = A(t0) * V * sensitivity * (1 - exp(-lambda T)) / lambda``; measured counts are
   Poisson;
5. reconstruction back to activity at the frame start (counts / the same factor), then a
   Gaussian post-filter (the ``XYZ Gauss`` kernel);
6. decay correction to a reference time (the series start, DICOM Decay Correction
   ``START``).

Because every step is mean-preserving, the mean of a uniform region equals
``SUV * dose * exp(-lambda (t_ref - t_inj)) / weight``, which is what makes SUV computable
from the DICOM header alone.
"""

from __future__ import annotations

__all__ = [
    "F18_HALF_LIFE",
    "decay",
    "activity_concentration",
    "frame_decay_factor",
    "acquire_frame",
    "suv_from_values",
]

import numpy as np
from scipy import ndimage

F18_HALF_LIFE = 6586.2  # seconds (109.77 min)


def decay(seconds: float, half_life: float) -> float:
    """Fraction of activity left after *seconds*."""
    return float(np.exp(-np.log(2.0) * seconds / half_life))


def activity_concentration(suv: np.ndarray, injected_dose_bq: float, weight_kg: float) -> np.ndarray:
    """Activity concentration (Bq/ml) at injection time for a map of SUVbw values."""
    return np.asarray(suv, float) * injected_dose_bq / (weight_kg * 1000.0)


def frame_decay_factor(duration: float, half_life: float) -> float:
    """``lambda T / (1 - exp(-lambda T))``: activity at frame start over its mean in the frame."""
    lam = np.log(2.0) / half_life
    x = lam * duration
    return float(x / -np.expm1(-x)) if x > 0 else 1.0


def acquire_frame(activity_at_start: np.ndarray, voxel_mm: tuple[float, float, float], *,
                  duration: float, half_life: float, rng: np.random.Generator,
                  sensitivity: float = 0.02, psf_fwhm_mm: float = 5.0,
                  post_filter_fwhm_mm: float = 3.0) -> np.ndarray:
    """Reconstructed activity (Bq/ml at the frame start) of one frame.

    ``activity_at_start`` is ``[z, y, x]`` in Bq/ml; ``voxel_mm`` is ``(dz, dy, dx)``;
    *sensitivity* is the effective count yield per decay in a voxel (it sets the noise).
    """
    lam = np.log(2.0) / half_life
    to_sigma = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    sig = [psf_fwhm_mm * to_sigma / v for v in voxel_mm]
    blurred = ndimage.gaussian_filter(np.asarray(activity_at_start, float), sig, mode="nearest")
    volume_ml = voxel_mm[0] * voxel_mm[1] * voxel_mm[2] / 1000.0
    per_bq = volume_ml * sensitivity * (-np.expm1(-lam * duration)) / lam
    counts = rng.poisson(np.clip(blurred, 0.0, None) * per_bq)
    image = counts / per_bq
    if post_filter_fwhm_mm > 0:
        sig = [post_filter_fwhm_mm * to_sigma / v for v in voxel_mm]
        image = ndimage.gaussian_filter(image, sig, mode="nearest")
    return image.astype(np.float32)


def suv_from_values(values_bqml, *, weight_kg: float, injected_dose_bq: float,
                    seconds_injection_to_reference: float, half_life: float):
    """SUVbw of activity concentrations decay-corrected to the reference time."""
    dose_at_ref = injected_dose_bq * decay(seconds_injection_to_reference, half_life)
    return np.asarray(values_bqml, float) * weight_kg * 1000.0 / dose_at_ref
