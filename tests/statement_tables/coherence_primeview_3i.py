"""Independent transcription of the network services of the Siemens COHERENCE and
PRIMEVIEW 3i DICOM Conformance Statement, Revision E 03/07 (seed 003_ad4427797e68d420.txt).

The statement has no overview table; its per-AE SOP class tables are transcribed, in
document order:
  §3   Table 1   Verification (SCU proposal)      + Table 4 "Verification" (SCP)
  §5.1 Table 2   SOP Classes as Storage SCU, Table 4 SOP Classes as Storage SCP
                 (merged per class; row order follows Table 4, the superset)
       Table 3 / Table 5  Private SOP Classes as Storage SCU / SCP
  §7.1 Table 8   Storage Commitment class as an SCU and SCP
  §9.1 Table 13  Query/Retrieve SOP classes as SCU, Table 14 as SCP (merged per class)
  §11.1 Table 29 Basic Grayscale Print Management Meta SOP Class (components listed by name)
        Table 30 Basic Color Print Management Meta SOP Class (only classes not already in Table 29)
  §13.1 Table 48 Modality Worklist Information Model (SCU)
  §15.1 Table 54 Modality Performed Procedure Step (SCU)

Tuples: (name, uid, scu, scp).
"""

SOP_CLASSES = [
    # --- §3 Table 1 (SCU) and §5.1 Table 4 (SCP, "Verification SCP is part of the Storage SCP") ---
    ("Verification", "1.2.840.10008.1.1", True, True),
    # --- §5.1 Table 2 (Storage SCU) / Table 4 (Storage SCP) ---
    ("Computed Radiography Image Storage", "1.2.840.10008.5.1.4.1.1.1", True, True),
    ("CT Image Storage", "1.2.840.10008.5.1.4.1.1.2", True, True),
    ("Digital X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.1.1", True, True),  # statement prints 1.2.840.10008.5.1.4.1.1.1.1 (Tables 2, 4 and 6; For-Presentation UID listed twice); Table 7 lists .1.1.1.1.1
    ("Digital X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.1", True, True),
    ("Digital Mammography X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.2.1", True, True),
    ("Digital Mammography X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.2", True, True),
    ("Digital Intra-Oral X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.3.1", True, True),  # Tables 2/4 misname this UID "Intra-oral ... for Presentation"; Table 6 names it For Processing
    ("Digital Intra-Oral X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.3", True, True),
    ("MR Image Storage", "1.2.840.10008.5.1.4.1.1.4", True, True),
    ("Nuclear Medicine Image Storage", "1.2.840.10008.5.1.4.1.1.20", True, True),
    ("Positron Emission Tomography Image Storage", "1.2.840.10008.5.1.4.1.1.128", True, True),
    ("RT Structure Set Storage", "1.2.840.10008.5.1.4.1.1.481.3", True, True),
    ("RT Dose Storage", "1.2.840.10008.5.1.4.1.1.481.2", True, True),
    ("RT Image Storage", "1.2.840.10008.5.1.4.1.1.481.1", True, True),
    ("RT Plan Storage", "1.2.840.10008.5.1.4.1.1.481.5", True, True),
    ("Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7", True, True),
    ("Ultrasound Multi-frame Image Storage (Retired)", "1.2.840.10008.5.1.4.1.1.3", False, True),  # Table 4 only
    ("Ultrasound Multi-frame Image Storage", "1.2.840.10008.5.1.4.1.1.3.1", True, True),
    ("Ultrasound Image Storage", "1.2.840.10008.5.1.4.1.1.6.1", True, True),
    ("Ultrasound Image Storage (Retired)", "1.2.840.10008.5.1.4.1.1.6", False, True),  # Table 4 only
    ("X-Ray Angiographic Image Storage", "1.2.840.10008.5.1.4.1.1.12.1", True, True),
    ("X-Ray Radiofluoroscopic Image Storage", "1.2.840.10008.5.1.4.1.1.12.2", True, True),
    ("12-lead ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.1", True, True),
    ("Ambulatory ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.3", True, True),
    ("Basic Voice Audio Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.4.1", True, True),
    ("Cardiac Electrophysiology Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.3.1", True, True),
    ("General ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.2", True, True),
    ("Hemodynamic Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.2.1", True, True),
    # --- §5.1 Table 3 (private, SCU) / Table 5 (private, SCP) ---
    ("CSA Non-Image Storage", "1.3.12.2.1107.5.9.1", True, True),
    # --- §7.1 Table 8 "Storage Commitment class as an SCU and SCP" ---
    ("Storage Commitment Push Model", "1.2.840.10008.1.20.1", True, True),  # Table 8; SCP side Tables 10/11
    # --- §9.1 Table 13 (SCU) / Table 14 (SCP) ---
    ("Patient Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.1.1", True, True),
    ("Patient Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.1.2", True, True),
    ("Patient Root Query/Retrieve Information Model - GET", "1.2.840.10008.5.1.4.1.2.1.3", False, True),  # Table 14 only
    ("Study Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.2.1", True, True),
    ("Study Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.2.2", True, True),
    ("Study Root Query/Retrieve Information Model - GET", "1.2.840.10008.5.1.4.1.2.2.3", False, True),  # Table 14 only
    ("Patient/Study Only Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.3.1", True, True),  # Table 13 lists it as SCU; not in Table 15 proposals
    ("Patient/Study Only Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.3.2", True, True),  # Table 13 lists it as SCU; not in Table 18 proposals
    ("Patient/Study Only Query/Retrieve Information Model - GET", "1.2.840.10008.5.1.4.1.2.3.3", False, True),  # Table 14 only
    # --- §11.1 Table 29 (Basic Grayscale Print Management Meta SOP Class) ---
    ("Basic Grayscale Print Management Meta", "1.2.840.10008.5.1.1.9", True, False),
    ("Basic Film Session", "1.2.840.10008.5.1.1.1", True, False),  # Tables 29 and 30
    ("Basic Film Box", "1.2.840.10008.5.1.1.2", True, False),  # Tables 29 and 30
    ("Basic Grayscale Image Box", "1.2.840.10008.5.1.1.4", True, False),
    ("Printer", "1.2.840.10008.5.1.1.16", True, False),  # Tables 29 and 30
    ("Print Job", "1.2.840.10008.5.1.1.14", True, False),  # Tables 29 and 30
    ("Presentation LUT", "1.2.840.10008.5.1.1.23", True, False),  # Table 29 only
    # --- §11.1 Table 30 (Basic Color Print Management Meta SOP Class) ---
    ("Basic Color Print Management Meta", "1.2.840.10008.5.1.1.18", True, False),
    ("Basic Color Image Box", "1.2.840.10008.5.1.1.4.1", True, False),
    # --- §13.1 Table 48 ---
    ("Modality Worklist Information Model - FIND", "1.2.840.10008.5.1.4.31", True, False),
    # --- §15.1 Table 54 ---
    ("Modality Performed Procedure Step", "1.2.840.10008.3.1.2.3.3", True, False),
]
