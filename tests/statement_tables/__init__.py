"""Independent reference tables of each product's network SOP classes and roles,
transcribed by hand from the products' DICOM Conformance Statements (the file each
profile names in its ``statement`` key), not derived from appliance/profiles/. Each module's SOP_CLASSES is a list of
(name, uid, scu, scp) tuples in the statement's order.
"""

from . import (
    coherence_primeview_3i,
    oasis_velocity,
    syngo_ct_va50a,
    syngo_mi_petct_2011a,
    syngo_mr_xa11b,
)

TABLES = {
    "syngo-mr-xa11b": syngo_mr_xa11b.SOP_CLASSES,
    "syngo-mi-petct-2011a": syngo_mi_petct_2011a.SOP_CLASSES,
    "oasis-velocity": oasis_velocity.SOP_CLASSES,
    "coherence-primeview-3i": coherence_primeview_3i.SOP_CLASSES,
    "syngo-ct-va50a": syngo_ct_va50a.SOP_CLASSES,
}
