"""Independent transcription of the network services of the FUJIFILM Healthcare MR Imaging
System "OASIS Velocity V7.0 or later" DICOM Conformance Statement E1en-FM0068
(seed 002_86392d7f83672eb7.txt).

The statement has no overview table; its per-AE SOP class tables are transcribed, in
document order:
  §3  "Image Transfer Application Entity Specifications": the DCMserver SCP table and SCU
      table (merged per class; row order follows the SCU table, which is the superset)
  §4  "Print Application Entity Specifications": Print Management Meta SOP Class table (SCU)
  §5  "Modality Worklist Application Entity Specifications": SOP class table (SCU)
  §6  "MPPS Entity Specifications": SOP class table (SCU)

The print component classes (Film Session, Film Box, Image Boxes, Printer) are listed only
in §4.2.1.3 (SOP Specific Conformance), not in the §4 services table, which names only the
two Meta SOP Classes; they are therefore not rows here.

Tuples: (name, uid, scu, scp).
"""

SOP_CLASSES = [
    # --- §3 SCP table and SCU table ---
    ("Verification", "1.2.840.10008.1.1", True, True),  # §3 SCP + SCU tables
    ("Patient Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.1.1", True, True),
    ("Patient Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.1.2", True, True),
    ("Study Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.2.1", True, True),
    ("Study Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.2.2", True, True),
    ("Storage Commitment Push Model", "1.2.840.10008.1.20.1", True, False),  # statement prints 1.2.840.10008.5.1.20.1 (§3 SCU table and every presentation-context table); SCU table only
    ("MR Image Storage", "1.2.840.10008.5.1.4.1.1.4", True, True),
    ("Enhanced MR Image Storage", "1.2.840.10008.5.1.4.1.1.4.1", True, True),
    ("Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7", True, True),  # statement: "SC Image Storage"
    ("Grayscale Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.1", True, True),
    ("Key Object Selection Document Storage", "1.2.840.10008.5.1.4.1.1.88.59", True, False),  # §3 SCU table only ("Key Object Selection Document")
    # --- §4 Print Management Meta SOP Class table (SCU) ---
    ("Basic Grayscale Print Management Meta", "1.2.840.10008.5.1.1.9", True, False),
    ("Basic Color Print Management Meta", "1.2.840.10008.5.1.1.18", True, False),
    # --- §5 Modality Worklist SOP class table (SCU) ---
    ("Modality Worklist Information Model - FIND", "1.2.840.10008.5.1.4.31", True, False),
    # --- §6 MPPS SOP class table (SCU; captioned "Modality Worklist SOP Class UID" in the statement) ---
    ("Modality Performed Procedure Step", "1.2.840.10008.3.1.2.3.3", True, False),
]
