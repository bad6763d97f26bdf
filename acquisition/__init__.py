"""Acquisition: phantoms, imaging physics and the objects each product creates.

The pipeline is pure (no network, no store): a product's profile and its protocols file
(:mod:`acquisition.protocols`) choose the series; :mod:`acquisition.phantoms` and
:mod:`acquisition.tissues` provide the patient; :mod:`acquisition.physics` makes the
pixels (MR, CT, PET, portal imaging); :mod:`acquisition.iods` builds the datasets from
shared modules; :mod:`acquisition.worklist_mapping` maps a worklist item into them.

    from appliance.profile import find_profile
    from acquisition import acquire

    exam = acquire(find_profile("syngo-ct-va50a"), "Head routine", seed=1)
    exam.write("out")
"""

from .engine import Acquisition, Limits, acquire, list_protocols
from .worklist_mapping import WorklistItem, map_worklist, worklist_modules

__all__ = ["Acquisition", "Limits", "acquire", "list_protocols", "WorklistItem", "map_worklist",
           "worklist_modules"]
