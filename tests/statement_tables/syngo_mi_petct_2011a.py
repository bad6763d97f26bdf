"""Independent transcription of the network services of the Siemens syngo MI.PET/CT 2011A
(PETsyngo VG30A, Biograph mCT) DICOM Conformance Statement (seed 001_05650ae29ad781cf.txt).

The statement has no single overview table; its per-AE SOP class tables are transcribed,
in document order:
  §3.1 Table 2   Verification (SCU proposal)      + Table 3 "Verification (only SCP)"
  §3.2 Table 3   Standard SOP Classes as a Storage SCU and a SCP
       Table 4   Private SOP Classes as a Storage SCU and an SCP
  §3.3 Table 7   Storage Commitment Push Model
  §3.4 Table 10  Query/Retrieve SCU, Table 11 Query/Retrieve SCP (merged per class)
  §3.5 Table 32  Basic Grayscale Print Management Meta SOP-Classes (components listed by name)
       Table 33  Basic Color Print Management Meta SOP-Classes (only classes not already in Table 32)
  §3.6 Table 57  Modality Worklist (SCU)
  §3.7 Table 63  Modality Performed Procedure Step (SCU)

Storage classes in Table 3 are "both an SCU and SCP", except rows marked "(SCP only)".

Tuples: (name, uid, scu, scp).
"""

SOP_CLASSES = [
    # --- §3.1 Table 2 (SCU) and §3.2 Table 3 "Verification (only SCP)" / Table 6 ---
    ("Verification", "1.2.840.10008.1.1", True, True),
    # --- §3.2 Table 3, Standard SOP Classes as a Storage SCU and a SCP ---
    ("Computed Radiography Image Storage", "1.2.840.10008.5.1.4.1.1.1", True, True),
    ("Digital X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.1", True, True),  # Table 6 prints 1.2.840.10008.5.1.4.1.1.1 (CR UID); Table 3 is correct
    ("Digital X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.1.1", True, True),
    ("Digital Mammography X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.2", True, True),
    ("Digital Mammography X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.2.1", True, True),
    ("Digital Intra-Oral X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.3", True, True),
    ("Digital Intra-Oral X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.3.1", True, True),
    ("CT Image Storage", "1.2.840.10008.5.1.4.1.1.2", True, True),
    ("Ultrasound Multi-frame Image Storage (Retired)", "1.2.840.10008.5.1.4.1.1.3", False, True),  # Table 3 "(retired) (SCP only)"
    ("Ultrasound Multi-frame Image Storage", "1.2.840.10008.5.1.4.1.1.3.1", True, True),
    ("MR Image Storage", "1.2.840.10008.5.1.4.1.1.4", True, True),
    ("Ultrasound Image Storage (Retired)", "1.2.840.10008.5.1.4.1.1.6", False, True),  # Table 3 "(retired) (SCP only)"
    ("Ultrasound Image Storage", "1.2.840.10008.5.1.4.1.1.6.1", True, True),
    ("Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7", True, True),
    ("12-lead ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.1", True, True),
    ("General ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.2", True, True),
    ("Ambulatory ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.3", True, True),
    ("Hemodynamic Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.2.1", True, True),
    ("Cardiac Electrophysiology Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.3.1", True, True),
    ("Basic Voice Audio Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.4.1", True, True),
    ("X-Ray Angiographic Image Storage", "1.2.840.10008.5.1.4.1.1.12.1", True, True),  # Table 6 prints "1.2.840.10008.5.1.4 4.1.1.12.1"; Table 3 is correct
    ("X-Ray Radiofluoroscopic Image Storage", "1.2.840.10008.5.1.4.1.1.12.2", True, True),  # Table 6 prints "...5.1.4 4.1.1.12.2"
    ("Nuclear Medicine Image Storage", "1.2.840.10008.5.1.4.1.1.20", True, True),  # Table 6 prints "...5.1.4 4.1.1.20"
    ("Basic Text SR Storage", "1.2.840.10008.5.1.4.1.1.88.11", True, True),
    ("Enhanced SR Storage", "1.2.840.10008.5.1.4.1.1.88.22", True, True),
    ("Comprehensive SR Storage", "1.2.840.10008.5.1.4.1.1.88.33", True, True),
    ("Procedure Log Storage", "1.2.840.10008.5.1.4.1.1.88.40", True, True),
    ("Mammography CAD SR Storage", "1.2.840.10008.5.1.4.1.1.88.50", True, True),
    ("Chest CAD SR Storage", "1.2.840.10008.5.1.4.1.1.88.65", True, True),
    ("X-Ray Radiation Dose SR Storage", "1.2.840.10008.5.1.4.1.1.88.67", True, True),
    ("Positron Emission Tomography Image Storage", "1.2.840.10008.5.1.4.1.1.128", True, True),  # Table 5 prints "1.2.840.10008.5.1.4 1.1.1.128"; Table 3 is correct
    ("RT Image Storage", "1.2.840.10008.5.1.4.1.1.481.1", True, True),
    ("RT Dose Storage", "1.2.840.10008.5.1.4.1.1.481.2", True, True),
    ("RT Structure Set Storage", "1.2.840.10008.5.1.4.1.1.481.3", True, True),
    # RT Beams Treatment Record is missing from Table 3 but is proposed (Table 5, role SCU) and
    # accepted (Table 6, role SCP) and listed for media (Table 97); seed notes §2.1 include it SCU+SCP.
    ("RT Beams Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.4", True, True),  # not in Table 3; Tables 5 and 6
    ("RT Plan Storage", "1.2.840.10008.5.1.4.1.1.481.5", True, True),
    ("RT Ion Plan Storage", "1.2.840.10008.5.1.4.1.1.481.8", True, True),
    ("RT Ion Beams Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.9", True, True),
    ("RT Brachy Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.6", True, True),
    ("RT Treatment Summary Record Storage", "1.2.840.10008.5.1.4.1.1.481.7", True, True),  # Table 3 misnames it "Radio Therapy Ion Treatment Summary Record Storage"
    # --- §3.2 Table 4, Private SOP Classes as a Storage SCU and an SCP ---
    ("CSA Non-Image Storage", "1.3.12.2.1107.5.9.1", True, True),  # Table 4 (private)
    # --- §3.3 Table 7 ---
    # Table 7 / §3.3 claim standard conformance "as SCU" only, but §1.1/§2.3 ("supports the
    # Storage Commitment Push Model as SCU and SCP"), §3.3.2 and §6.2.1 ("When acting as SCP")
    # also claim the SCP role. Seed notes (Notes on the companion JSON; §4) choose scp=True.
    ("Storage Commitment Push Model", "1.2.840.10008.1.20.1", True, True),  # Table 7 says SCU only; §2.3 says SCU and SCP
    # --- §3.4 Table 10 (SCU) / Table 11 (SCP) ---
    ("Patient Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.1.1", True, True),
    ("Patient Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.1.2", True, True),
    ("Patient Root Query/Retrieve Information Model - GET", "1.2.840.10008.5.1.4.1.2.1.3", False, True),  # Table 11 only
    ("Study Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.2.1", True, True),
    ("Study Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.2.2", True, True),
    ("Study Root Query/Retrieve Information Model - GET", "1.2.840.10008.5.1.4.1.2.2.3", False, True),  # Table 11 only
    ("Patient/Study Only Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.3.1", True, True),
    ("Patient/Study Only Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.3.2", True, True),
    ("Patient/Study Only Query/Retrieve Information Model - GET", "1.2.840.10008.5.1.4.1.2.3.3", False, True),  # Table 11 only
    # --- §3.5 Table 32 (Basic Grayscale Print Management Meta SOP-Classes) ---
    ("Basic Grayscale Print Management Meta", "1.2.840.10008.5.1.1.9", True, False),
    ("Basic Film Session", "1.2.840.10008.5.1.1.1", True, False),  # Tables 32 and 33
    ("Basic Film Box", "1.2.840.10008.5.1.1.2", True, False),  # Tables 32 and 33
    ("Basic Grayscale Image Box", "1.2.840.10008.5.1.1.4", True, False),
    ("Printer", "1.2.840.10008.5.1.1.16", True, False),  # Tables 32 and 33
    ("Print Job", "1.2.840.10008.5.1.1.14", True, False),  # Tables 32 and 33
    ("Presentation LUT", "1.2.840.10008.5.1.1.23", True, False),  # Table 32 only
    # --- §3.5 Table 33 (Basic Color Print Management Meta SOP-Classes) ---
    ("Basic Color Print Management Meta", "1.2.840.10008.5.1.1.18", True, False),
    ("Basic Color Image Box", "1.2.840.10008.5.1.1.4.1", True, False),
    # --- §3.6 Table 57 ---
    ("Modality Worklist Information Model - FIND", "1.2.840.10008.5.1.4.31", True, False),
    # --- §3.7 Table 63 ---
    ("Modality Performed Procedure Step", "1.2.840.10008.3.1.2.3.3", True, False),
]
