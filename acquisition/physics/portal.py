"""Megavoltage portal imaging: transmission of a treatment beam through the patient.

At megavoltage energies attenuation is dominated by Compton scattering, so it follows
electron density: ``mu = mu_water(MV) * rho_e``. The electronic portal imaging device
signal is proportional to the transmitted fluence: 1 in the open field, the leaf/jaw
transmission outside it, times ``exp(-integral mu dl)`` through the patient, with a
little Gaussian detector noise. Bone shows as faintly darker structure, as on real
portal images.
"""

from __future__ import annotations

__all__ = ["mu_water_mv", "transmission"]

import numpy as np
from scipy import ndimage


def mu_water_mv(energy_mv: float) -> float:
    """Linear attenuation coefficient of water (1/mm) for a photon beam of *energy_mv* MV."""
    return float(np.interp(energy_mv, [4.0, 6.0, 10.0, 15.0, 18.0], [0.0056, 0.0049, 0.0040, 0.0035, 0.0033]))


def transmission(density_path_mm: np.ndarray, field: np.ndarray, *, energy_mv: float,
                 rng: np.random.Generator, leaf_transmission: float = 0.02, noise: float = 0.004,
                 penumbra_px: float = 1.5) -> np.ndarray:
    """Portal image (relative signal, open field in air = 1).

    *density_path_mm* is the electron-density-weighted path length through the patient
    along each ray (mm of water equivalent); *field* is 1 inside the collimated field
    and 0 outside; the field edge is blurred by the penumbra.
    """
    fluence = leaf_transmission + (1.0 - leaf_transmission) * ndimage.gaussian_filter(field.astype(float), penumbra_px)
    signal = fluence * np.exp(-mu_water_mv(energy_mv) * density_path_mm)
    return (signal + noise * rng.standard_normal(signal.shape)).astype(np.float32)
