"""Independent transcription of the network services of the Siemens syngo MR XA11B
DICOM Conformance Statement (seed 000_c121bd04abae68cd.txt).

Transcribes §1 "Conformance Statement Overview", Table 1 "Network Services", in the
statement's order: Verification; "SOP Classes managed by syngo MR" (55 storage classes,
columns Create / Send / Store / Display -> scu = Send, scp = Store); "Transfer (Private
SOP Class)"; Storage Commitment; Worklist Management; Query/Retrieve; Print Management.

Table 1 gives no UID for the private "Syngo Non-Image Storage" class nor for the print
rows; those UIDs are taken from elsewhere in the statement (§5.3.1 / Table 65 "CSA
Non-Image Storage"; Table 44 print presentation contexts).

Print component classes (Film Session, Film Box, Image Boxes, Printer) are NOT listed
by name in Table 1, so they are not rows here.

Tuples: (name, uid, scu, scp).
"""

SOP_CLASSES = [
    # --- Table 1, "Verification" ---
    ("Verification", "1.2.840.10008.1.1", True, True),  # Table 1; §4.2.1
    # --- Table 1, "SOP Classes managed by syngo MR" (Send = SCU, Store = SCP) ---
    ("Computed Radiography Image Storage", "1.2.840.10008.5.1.4.1.1.1", True, True),
    ("Digital X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.1", True, True),
    ("Digital X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.1.1", True, True),
    ("Digital Mammography X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.2", True, True),
    ("Digital Mammography X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.2.1", True, True),
    ("CT Image Storage", "1.2.840.10008.5.1.4.1.1.2", True, True),
    ("Enhanced CT Image Storage", "1.2.840.10008.5.1.4.1.1.2.1", True, True),
    ("Ultrasound Multi-frame Image Storage", "1.2.840.10008.5.1.4.1.1.3.1", True, True),
    ("MR Image Storage", "1.2.840.10008.5.1.4.1.1.4", True, True),  # Create = Yes
    ("Enhanced MR Image Storage", "1.2.840.10008.5.1.4.1.1.4.1", True, True),  # Create = Yes
    ("MR Spectroscopy Storage", "1.2.840.10008.5.1.4.1.1.4.2", True, True),  # Create = Yes
    ("Enhanced MR Color Image Storage", "1.2.840.10008.5.1.4.1.1.4.3", True, True),  # Create = Yes
    ("Ultrasound Image Storage", "1.2.840.10008.5.1.4.1.1.6.1", True, True),
    ("Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7", True, True),  # Create = Yes
    ("Multi-frame Single Bit Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.1", True, True),
    ("Multi-frame Grayscale Byte Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.2", True, True),
    ("Multi-frame Grayscale Word Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.3", True, True),  # Create = Yes
    ("Multi-frame True Color Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.4", True, True),  # Create = Yes
    ("12-lead ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.1", True, True),
    ("General ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.2", True, True),
    ("Ambulatory ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.3", True, True),
    ("Hemodynamic Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.2.1", True, True),
    ("Cardiac Electrophysiology Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.3.1", True, True),
    ("Grayscale Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.1", True, True),  # Create = Yes
    ("Color Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.2", True, True),
    ("Pseudo-Color Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.3", True, True),
    ("Blending Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.4", True, True),
    ("X-Ray Angiographic Image Storage", "1.2.840.10008.5.1.4.1.1.12.1", True, True),
    ("Enhanced XA Image Storage", "1.2.840.10008.5.1.4.1.1.12.1.1", True, True),
    ("X-Ray Radiofluoroscopic Image Storage", "1.2.840.10008.5.1.4.1.1.12.2", True, True),
    ("Enhanced XRF Image Storage", "1.2.840.10008.5.1.4.1.1.12.2.1", True, True),
    ("X-Ray 3D Angiographic Image Storage", "1.2.840.10008.5.1.4.1.1.13.1.1", True, True),
    ("Breast Tomosynthesis Image Storage", "1.2.840.10008.5.1.4.1.1.13.1.3", True, True),
    ("Raw Data Storage", "1.2.840.10008.5.1.4.1.1.66", True, True),  # Create = Yes
    ("Spatial Registration Storage", "1.2.840.10008.5.1.4.1.1.66.1", True, True),  # Create = Yes
    ("Spatial Fiducials Storage", "1.2.840.10008.5.1.4.1.1.66.2", True, True),
    ("Deformable Spatial Registration Storage", "1.2.840.10008.5.1.4.1.1.66.3", True, True),  # statement names it "Deformable Spatial Registration SOP Class"
    ("Segmentation Storage", "1.2.840.10008.5.1.4.1.1.66.4", True, True),  # Create = Yes
    ("Surface Segmentation Storage", "1.2.840.10008.5.1.4.1.1.66.5", True, True),
    ("Real World Value Mapping Storage", "1.2.840.10008.5.1.4.1.1.67", True, True),  # Create = Yes
    ("Basic Text SR Storage", "1.2.840.10008.5.1.4.1.1.88.11", True, True),
    ("Enhanced SR Storage", "1.2.840.10008.5.1.4.1.1.88.22", True, True),  # Create = Yes
    ("Comprehensive SR Storage", "1.2.840.10008.5.1.4.1.1.88.33", True, True),  # Create = Yes
    ("Procedure Log Storage", "1.2.840.10008.5.1.4.1.1.88.40", True, True),  # statement prints "Procedure Log Storage Storage"
    ("Mammography CAD SR Storage", "1.2.840.10008.5.1.4.1.1.88.50", True, True),
    ("Key Object Selection Document Storage", "1.2.840.10008.5.1.4.1.1.88.59", True, True),
    ("X-Ray Radiation Dose SR Storage", "1.2.840.10008.5.1.4.1.1.88.67", True, True),
    ("Encapsulated PDF Storage", "1.2.840.10008.5.1.4.1.1.104.1", True, True),  # Create = Yes
    ("Positron Emission Tomography Image Storage", "1.2.840.10008.5.1.4.1.1.128", True, True),
    ("RT Image Storage", "1.2.840.10008.5.1.4.1.1.481.1", True, True),
    ("RT Dose Storage", "1.2.840.10008.5.1.4.1.1.481.2", True, True),
    ("RT Structure Set Storage", "1.2.840.10008.5.1.4.1.1.481.3", True, True),
    ("RT Beams Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.4", True, True),
    ("RT Plan Storage", "1.2.840.10008.5.1.4.1.1.481.5", True, True),
    ("RT Treatment Summary Record Storage", "1.2.840.10008.5.1.4.1.1.481.7", True, True),
    # --- Table 1, "Transfer (Private SOP Class)" ---
    ("Syngo Non-Image Storage", "1.3.12.2.1107.5.9.1", True, True),  # Table 1 gives no UID; UID from §5.3.1 / Table 65 "CSA Non-Image Storage"
    # --- Table 1, "Storage Commitment" ---
    # Table 1 prints SCP "Yes", but §4.1.2.3 / §4.2.3 describe only the SCU; the "SCP" role in
    # Table 19 is only the acceptance of the N-EVENT-REPORT (reverse role). Seed notes §2.2/§2.4
    # choose scp=False.
    ("Storage Commitment Push Model", "1.2.840.10008.1.20.1", True, False),  # Table 1 says SCP "Yes"; body SCU-only
    # --- Table 1, "Worklist Management" ---
    ("Modality Worklist Information Model - FIND", "1.2.840.10008.5.1.4.31", True, False),  # Table 1; §4.2.5
    ("Modality Performed Procedure Step", "1.2.840.10008.3.1.2.3.3", True, False),  # Table 1; §4.2.6
    # --- Table 1, "Query/Retrieve" ---
    # SCP = Yes per Table 1 (and §4.1.2.4, Table 61), although §4.2.4.4 says "syngo MR does not
    # provide SCP functionality"; seed notes §2.2/§2.4 keep scp=True per Table 1.
    # Patient Root MOVE and Patient/Study Only MOVE keep scu=True per Table 1 / §4.2.4.3 list,
    # although Table 28 proposes only Study Root MOVE.
    ("Patient Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.1.1", True, True),
    ("Patient Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.1.2", True, True),
    ("Study Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.2.1", True, True),
    ("Study Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.2.2", True, True),  # statement prints 1.2.840.10008.5.1.4.1.2.2.1 (Table 1); Table 28 has .2.2.2
    ("Patient/Study Only Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.3.1", True, True),  # statement prints 1.2.840.10008.5.1.4.1.2.2.1 (Table 1); Table 23 has .2.3.1
    ("Patient/Study Only Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.3.2", True, True),
    # --- Table 1, "Print Management" (no UIDs in Table 1; UIDs from Table 44) ---
    ("Basic Grayscale Print Management Meta", "1.2.840.10008.5.1.1.9", True, False),
    ("Basic Color Print Management Meta", "1.2.840.10008.5.1.1.18", True, False),
    ("Print Job", "1.2.840.10008.5.1.1.14", True, False),
    ("Presentation LUT", "1.2.840.10008.5.1.1.23", True, False),
]
