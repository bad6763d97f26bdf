"""MR signal equations, k-space sampling and Rician noise.

Signal models (steady state, magnitude, arbitrary units proportional to proton density):

- spin echo: ``PD (1 - exp(-TR/T1)) exp(-TE/T2)``; turbo spin echo uses the same
  equation at its effective TE;
- spoiled gradient echo with flip angle a:
  ``PD sin a (1 - E1) / (1 - cos a E1) exp(-TE/T2*)``, ``E1 = exp(-TR/T1)``;
- inversion recovery (FLAIR, STIR, MPRAGE-like contrast):
  ``PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)``.

:func:`acquire_slice` turns a finely sampled signal map into an image the way a scanner
does: Fourier transform, keep the acquired centre of k-space (the acquisition matrix), add
complex Gaussian noise to the samples, zero-fill to the reconstruction matrix, inverse
transform and take the magnitude, which gives truncation (Gibbs) ringing, the
resolution of the acquisition matrix and Rician noise in the background.
"""

from __future__ import annotations

__all__ = [
    "spin_echo",
    "gradient_echo",
    "inversion_recovery",
    "tissue_signal",
    "acquire_slice",
    "noise_sigma",
    "SEQUENCES",
]

import numpy as np

SEQUENCES = ("SE", "TSE", "GRE", "IR")


def spin_echo(pd, t1, t2, tr: float, te: float):
    pd, t1, t2 = (np.asarray(v, float) for v in (pd, t1, t2))
    return pd * (1.0 - np.exp(-tr / t1)) * np.exp(-te / t2)


def gradient_echo(pd, t1, t2s, tr: float, te: float, flip_deg: float):
    pd, t1, t2s = (np.asarray(v, float) for v in (pd, t1, t2s))
    a = np.deg2rad(flip_deg)
    e1 = np.exp(-tr / t1)
    return pd * np.sin(a) * (1.0 - e1) / (1.0 - np.cos(a) * e1) * np.exp(-te / t2s)


def inversion_recovery(pd, t1, t2, tr: float, te: float, ti: float):
    pd, t1, t2 = (np.asarray(v, float) for v in (pd, t1, t2))
    return pd * np.abs(1.0 - 2.0 * np.exp(-ti / t1) + np.exp(-tr / t1)) * np.exp(-te / t2)


def tissue_signal(sequence: str, pd, t1, t2, t2s, *, tr: float, te: float,
                  ti: float | None = None, flip: float = 90.0):
    """Signal of each tissue for one sequence type (one of :data:`SEQUENCES`)."""
    if sequence in ("SE", "TSE"):
        return spin_echo(pd, t1, t2, tr, te)
    if sequence == "GRE":
        return gradient_echo(pd, t1, t2s, tr, te, flip)
    if sequence == "IR":
        if ti is None:
            raise ValueError("inversion recovery needs an inversion time (ti)")
        return inversion_recovery(pd, t1, t2, tr, te, ti)
    raise ValueError(f"unknown sequence type {sequence!r}; use one of {', '.join(SEQUENCES)}")


def noise_sigma(*, voxel_mm3: float, averages: float, phase_steps: int, bandwidth_hz_px: float,
                field_strength: float, reference: float = 0.02) -> float:
    """Image noise (per real/imaginary channel) relative to a signal of 1 (PD = 1).

    SNR grows with voxel volume, the square root of the number of averages and phase
    encoding steps, the field strength, and falls with the square root of the receiver
    bandwidth. *reference* is the noise of a 1 mm^3, 1-average, 256-step, 200 Hz/px scan
    at 1.5 T.
    """
    snr_gain = (voxel_mm3 * np.sqrt(averages * phase_steps / 256.0) * (field_strength / 1.5)
                * np.sqrt(200.0 / bandwidth_hz_px))
    return float(reference / snr_gain)


def acquire_slice(signal: np.ndarray, oversample: int, acquisition_matrix: tuple[int, int],
                  sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Image of one slice from its signal map sampled *oversample* times finer.

    *signal* has shape ``(rows * n, cols * n)``; the result has shape ``(rows, cols)`` (the
    reconstruction matrix). ``acquisition_matrix`` ``(rows, cols)`` is how much of k-space
    is measured (at most the reconstruction matrix); the rest is zero-filled. *sigma* is
    the image-domain noise of each channel before the magnitude is taken.
    """
    n = int(oversample)
    big_r, big_c = signal.shape
    rows, cols = big_r // n, big_c // n
    acq_r, acq_c = min(acquisition_matrix[0], rows), min(acquisition_matrix[1], cols)
    k = np.fft.fftshift(np.fft.fft2(signal))
    r0, c0 = big_r // 2 - acq_r // 2, big_c // 2 - acq_c // 2
    acquired = k[r0:r0 + acq_r, c0:c0 + acq_c] / (n * n)
    if sigma > 0:
        # per-sample k-space noise giving image-domain noise sigma after the inverse FFT
        s_k = sigma * rows * cols / np.sqrt(acq_r * acq_c)
        acquired = acquired + s_k * (rng.standard_normal(acquired.shape)
                                     + 1j * rng.standard_normal(acquired.shape))
    filled = np.zeros((rows, cols), complex)
    fr, fc = rows // 2 - acq_r // 2, cols // 2 - acq_c // 2
    filled[fr:fr + acq_r, fc:fc + acq_c] = acquired
    image = np.fft.ifft2(np.fft.ifftshift(filled))
    return np.abs(image).astype(np.float32)
