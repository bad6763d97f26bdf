"""Synthetic acquisition: phantoms, MR/CT/PET physics and IOD builders (no network, no store)."""
