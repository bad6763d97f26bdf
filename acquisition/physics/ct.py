"""CT: attenuation, reconstruction kernels, quantum noise, topogram and dose figures.

- CT numbers come from the tissue table at the tube voltage (kVp-dependent contrast).
- A reconstruction kernel is a radial frequency filter (its MTF) applied to the ideal
  image: ``soft`` and ``standard`` roll off, ``sharp`` lifts mid frequencies (edge
  enhancement) before cutting off.
- Quantum noise is Gaussian with the texture of filtered back-projection: white noise
  shaped by the noise power spectrum ``NPS(f) ~ f * MTF(f)^2``, scaled so that its
  standard deviation is ``sigma_ref * sqrt(mAs_ref / mAs) * sqrt(5 mm / thickness)``
  times factors for tube voltage, kernel and patient size (water-equivalent diameter).
  Four times the mAs therefore halves the noise.
- The topogram (scout) is a projection: line integrals of the linear attenuation
  coefficient through a voxel volume, with Poisson transmission noise.
"""

from __future__ import annotations

__all__ = [
    "KERNELS",
    "mu_water",
    "kernel_mtf",
    "apply_kernel",
    "noise_field",
    "noise_sigma",
    "water_equivalent_diameter",
    "reconstruct",
    "line_integral",
    "topogram",
    "ctdi_vol",
]

import numpy as np

# effective linear attenuation of water (1/mm) for typical filtered spectra
_MU_WATER = {80.0: 0.0222, 100.0: 0.0206, 120.0: 0.0195, 140.0: 0.0187}

# kernel class -> (gaussian f50 in cycles/mm, enhancement, relative noise at equal dose)
KERNELS: dict[str, tuple[float, float, float]] = {
    "soft": (0.32, 0.0, 0.75),
    "standard": (0.45, 0.0, 1.0),
    "sharp": (0.75, 1.2, 2.6),
}


def mu_water(kvp: float) -> float:
    """Effective linear attenuation coefficient of water (1/mm) at *kvp*."""
    k = sorted(_MU_WATER)
    return float(np.interp(kvp, k, [_MU_WATER[v] for v in k]))


def _radial_frequency(shape: tuple[int, int], spacing: tuple[float, float]) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0], d=spacing[0])
    fx = np.fft.fftfreq(shape[1], d=spacing[1])
    return np.hypot(*np.meshgrid(fy, fx, indexing="ij"))


def kernel_mtf(f: np.ndarray, kernel: str) -> np.ndarray:
    """Modulation transfer of a kernel class at spatial frequencies *f* (cycles/mm)."""
    try:
        f50, lift, _ = KERNELS[kernel]
    except KeyError:
        raise ValueError(f"unknown kernel class {kernel!r}; use one of {', '.join(KERNELS)}") from None
    g = np.exp(-np.log(2.0) * (f / f50) ** 2)
    return g * (1.0 + lift * (f / f50) ** 2)


def apply_kernel(image: np.ndarray, spacing: tuple[float, float], kernel: str) -> np.ndarray:
    """Filter *image* with the kernel's MTF (the mean is preserved: MTF(0) = 1)."""
    f = _radial_frequency(image.shape, spacing)
    return np.real(np.fft.ifft2(np.fft.fft2(image) * kernel_mtf(f, kernel)))


def noise_field(shape: tuple[int, int], spacing: tuple[float, float], kernel: str,
                rng: np.random.Generator) -> np.ndarray:
    """Zero-mean noise with unit standard deviation and filtered back-projection texture."""
    f = _radial_frequency(shape, spacing)
    shaping = np.sqrt(f) * kernel_mtf(f, kernel)
    norm = np.sqrt(np.mean(shaping ** 2))
    w = rng.standard_normal(shape)
    return np.real(np.fft.ifft2(np.fft.fft2(w) * shaping)) / norm


def water_equivalent_diameter(hu: np.ndarray, spacing: tuple[float, float]) -> float:
    """Water-equivalent diameter (mm) of an axial slice (AAPM report 220)."""
    area = float(np.sum(np.clip(hu / 1000.0 + 1.0, 0.0, None) * (hu > -900))) * spacing[0] * spacing[1]
    return 2.0 * np.sqrt(area / np.pi)


def noise_sigma(*, mas: float, kvp: float, thickness: float, kernel: str, wed_mm: float,
                sigma_ref: float = 11.0, mas_ref: float = 100.0, wed_ref: float = 300.0) -> float:
    """Noise standard deviation (HU) of one reconstructed slice.

    *sigma_ref* is the noise of a 300 mm water-equivalent patient at 120 kVp, *mas_ref*
    effective mAs, 5 mm slices and the ``standard`` kernel.
    """
    if mas <= 0:
        raise ValueError("mAs must be positive")
    kernel_factor = KERNELS[kernel][2]
    kvp_factor = (120.0 / kvp) ** 1.4
    size_factor = np.exp(mu_water(kvp) * (wed_mm - wed_ref) / 2.0)
    return float(sigma_ref * np.sqrt(mas_ref / mas) * np.sqrt(5.0 / thickness)
                 * kernel_factor * kvp_factor * size_factor)


def reconstruct(hu: np.ndarray, spacing: tuple[float, float], *, kernel: str, mas: float, kvp: float,
                thickness: float, rng: np.random.Generator, sigma_ref: float = 11.0) -> tuple[np.ndarray, float]:
    """Reconstructed slice (HU) from the ideal CT numbers, and the noise sigma used."""
    wed = water_equivalent_diameter(hu, spacing)
    sigma = noise_sigma(mas=mas, kvp=kvp, thickness=thickness, kernel=kernel, wed_mm=wed, sigma_ref=sigma_ref)
    out = apply_kernel(hu, spacing, kernel) + sigma * noise_field(hu.shape, spacing, kernel, rng)
    return out.astype(np.float32), sigma


def line_integral(hu: np.ndarray, step_mm: float, *, kvp: float, axis: int | None = None) -> np.ndarray:
    """Integral of the linear attenuation coefficient (unitless) of CT numbers *hu* sampled
    every *step_mm* along *axis* (None: *hu* is one plane of samples, to be accumulated)."""
    mu = mu_water(kvp) * np.clip(1.0 + np.asarray(hu, np.float32) / 1000.0, 0.0, None)
    return (mu if axis is None else mu.sum(axis=axis)) * step_mm


def topogram(line_integrals: np.ndarray, *, mas: float, rng: np.random.Generator,
             photons_per_mas: float = 2.0e3) -> np.ndarray:
    """Measured projection ``-ln(I / I0)`` of the line integrals *p* of a topogram.

    Transmission is Poisson: ``I ~ Poisson(I0 exp(-p))`` with ``I0 = photons_per_mas * mAs``.
    """
    p = np.asarray(line_integrals, float)
    i0 = photons_per_mas * mas
    counts = rng.poisson(i0 * np.exp(-p)).astype(float)
    return (-np.log(np.clip(counts, 0.5, None) / i0)).astype(np.float32)


def ctdi_vol(*, mas: float, kvp: float, phantom: str = "body") -> float:
    """CTDIvol (mGy) for an effective mAs (mAs / pitch), from a typical 64-slice scanner's
    CTDIw per 100 mAs in the 32 cm (``body``) or 16 cm (``head``) dosimetry phantom."""
    per_100mas = {"body": 6.8, "head": 15.5}[phantom]
    return float(per_100mas * (mas / 100.0) * (kvp / 120.0) ** 2.5)
