"""Independent transcription of the network services of the Siemens Healthineers
syngo CT VA50A (Somaris/10 VA50A) DICOM Conformance Statement (seed 004_5f5a0cb843b86193.txt).

Transcribes "DICOM Conformance Statement Overview", Table 1 "Network Services", in the
statement's order: Verification; "SOP Classes created by syngo CT VA50A" and "SOP Classes
managed by syngo CT VA50A" (columns Create / Send / Store / Display -> scu = Send,
scp = Store); "Transfer (Private SOP Class)"; Storage Commitment; Worklist Management;
Query/Retrieve; Print Management (Table 1 lists the print component classes by name, so
they are rows here).

Rows that Table 1 marks "No / No" (Patient Root and Patient/Study Only Q/R) are kept with
scu=False, scp=False: they are listed by the table but NOT supported.

Spatial Registration Storage appears twice in Table 1 (under "created", Yes/Yes/Yes/Yes, and
again under "managed", No/Yes/Yes/Yes); it is one row here, at its "created" position.

Tuples: (name, uid, scu, scp).
"""

SOP_CLASSES = [
    # --- Table 1, "Verification" ---
    ("Verification", "1.2.840.10008.1.1", True, True),
    # --- Table 1, "SOP Classes created by syngo CT VA50A" (Create = Yes) ---
    ("CT Image Storage", "1.2.840.10008.5.1.4.1.1.2", True, True),
    ("Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7", True, True),
    ("X-Ray Radiation Dose SR Storage", "1.2.840.10008.5.1.4.1.1.88.67", True, True),
    ("Enhanced SR Storage", "1.2.840.10008.5.1.4.1.1.88.22", True, True),
    ("Comprehensive SR Storage", "1.2.840.10008.5.1.4.1.1.88.33", True, True),
    ("RT Structure Set Storage", "1.2.840.10008.5.1.4.1.1.481.3", True, True),
    ("Spatial Registration Storage", "1.2.840.10008.5.1.4.1.1.66.1", True, True),  # also repeated under "managed" (No/Yes/Yes/Yes); counted once
    # --- Table 1, "SOP Classes managed by syngo CT VA50A" (Send = SCU, Store = SCP) ---
    ("Computed Radiography Image Storage", "1.2.840.10008.5.1.4.1.1.1", True, True),
    ("Digital X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.1", True, True),
    ("Digital X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.1.1", True, True),
    ("Digital Mammography X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.2", True, True),
    ("Digital Mammography X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.2.1", True, True),
    ("Digital Intra-Oral X-Ray Image Storage - For Presentation", "1.2.840.10008.5.1.4.1.1.1.3", True, True),
    ("Digital Intra-Oral X-Ray Image Storage - For Processing", "1.2.840.10008.5.1.4.1.1.1.3.1", True, True),
    ("Enhanced CT Image Storage", "1.2.840.10008.5.1.4.1.1.2.1", True, True),
    ("Ultrasound Multi-frame Image Storage", "1.2.840.10008.5.1.4.1.1.3.1", True, True),
    ("MR Image Storage", "1.2.840.10008.5.1.4.1.1.4", True, True),
    ("Enhanced MR Image Storage", "1.2.840.10008.5.1.4.1.1.4.1", True, True),
    ("MR Spectroscopy Storage", "1.2.840.10008.5.1.4.1.1.4.2", True, True),
    ("Enhanced MR Color Image Storage", "1.2.840.10008.5.1.4.1.1.4.3", True, True),
    ("Ultrasound Image Storage", "1.2.840.10008.5.1.4.1.1.6.1", True, True),
    ("Enhanced US Volume Storage", "1.2.840.10008.5.1.4.1.1.6.2", True, True),
    ("Multi-frame Single Bit Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.1", True, True),
    ("Multi-frame Grayscale Byte Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.2", True, True),
    ("Multi-frame Grayscale Word Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.3", True, True),
    ("Multi-frame True Color Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7.4", True, True),
    ("12-lead ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.1", True, True),
    ("General ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.2", True, True),
    ("Ambulatory ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.3", True, True),
    ("Hemodynamic Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.2.1", True, True),
    ("Cardiac Electrophysiology Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.3.1", True, True),
    ("Basic Voice Audio Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.4.1", True, True),
    ("General Audio Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.4.2", True, True),
    ("Arterial Pulse Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.5.1", True, True),
    ("Respiratory Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.6.1", True, True),
    ("Grayscale Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.1", True, True),
    ("Color Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.2", True, True),
    ("Pseudo-Color Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.3", True, True),
    ("Blending Softcopy Presentation State Storage", "1.2.840.10008.5.1.4.1.1.11.4", True, True),
    ("X-Ray Angiographic Image Storage", "1.2.840.10008.5.1.4.1.1.12.1", True, True),
    ("Enhanced XA Image Storage", "1.2.840.10008.5.1.4.1.1.12.1.1", True, True),
    ("X-Ray Radiofluoroscopic Image Storage", "1.2.840.10008.5.1.4.1.1.12.2", True, True),
    ("Enhanced XRF Image Storage", "1.2.840.10008.5.1.4.1.1.12.2.1", True, True),
    ("X-Ray 3D Angiographic Image Storage", "1.2.840.10008.5.1.4.1.1.13.1.1", True, True),
    ("Breast Tomosynthesis Image Storage", "1.2.840.10008.5.1.4.1.1.13.1.3", True, True),
    ("Nuclear Medicine Image Storage", "1.2.840.10008.5.1.4.1.1.20", True, True),
    # Raw Data: Table 1 says Send/Store Yes; §9.1.3 / revision 1.1 say it is "only used
    # internally and is not exposed externally". Transcribed per Table 1.
    ("Raw Data Storage", "1.2.840.10008.5.1.4.1.1.66", True, True),
    # (Spatial Registration Storage 1.2.840.10008.5.1.4.1.1.66.1 repeated here in Table 1; see above)
    ("Spatial Fiducials Storage", "1.2.840.10008.5.1.4.1.1.66.2", True, True),
    ("Deformable Spatial Registration Storage", "1.2.840.10008.5.1.4.1.1.66.3", True, True),  # statement: "Deformable Spatial Registration SOP Class"
    ("Segmentation Storage", "1.2.840.10008.5.1.4.1.1.66.4", True, True),
    ("Surface Segmentation Storage", "1.2.840.10008.5.1.4.1.1.66.5", True, True),
    ("Real World Value Mapping Storage", "1.2.840.10008.5.1.4.1.1.67", True, True),
    ("Basic Text SR Storage", "1.2.840.10008.5.1.4.1.1.88.11", True, True),
    ("Procedure Log Storage", "1.2.840.10008.5.1.4.1.1.88.40", True, True),
    ("Mammography CAD SR Storage", "1.2.840.10008.5.1.4.1.1.88.50", True, True),
    ("Key Object Selection Document Storage", "1.2.840.10008.5.1.4.1.1.88.59", True, True),
    ("Radiopharmaceutical Radiation Dose SR Storage", "1.2.840.10008.5.1.4.1.1.88.68", True, True),
    ("Encapsulated PDF Storage", "1.2.840.10008.5.1.4.1.1.104.1", True, True),
    ("Positron Emission Tomography Image Storage", "1.2.840.10008.5.1.4.1.1.128", True, True),
    ("RT Image Storage", "1.2.840.10008.5.1.4.1.1.481.1", True, True),
    ("RT Dose Storage", "1.2.840.10008.5.1.4.1.1.481.2", True, True),
    ("RT Beams Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.4", True, True),
    ("RT Plan Storage", "1.2.840.10008.5.1.4.1.1.481.5", True, True),
    ("RT Brachy Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.6", True, True),
    ("RT Treatment Summary Record Storage", "1.2.840.10008.5.1.4.1.1.481.7", True, True),
    ("RT Ion Plan Storage", "1.2.840.10008.5.1.4.1.1.481.8", True, True),
    ("RT Ion Beams Treatment Record Storage", "1.2.840.10008.5.1.4.1.1.481.9", True, True),
    ("Hanging Protocol Storage", "1.2.840.10008.5.1.4.38.1", True, True),
    # --- Table 1, "Transfer (Private SOP Class)" ---
    ("Syngo Non-Image Storage", "1.3.12.2.1107.5.9.1", True, True),
    # --- Table 1, "Storage Commitment" ---
    ("Storage Commitment Push Model", "1.2.840.10008.1.20.1", True, False),
    # --- Table 1, "Worklist Management" ---
    ("Modality Worklist Information Model - FIND", "1.2.840.10008.5.1.4.31", True, False),
    ("Modality Performed Procedure Step", "1.2.840.10008.3.1.2.3.3", True, False),
    # --- Table 1, "Query/Retrieve" ---
    ("Patient Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.1.1", False, False),  # Table 1: No / No
    ("Patient Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.1.2", False, False),  # Table 1: No / No
    ("Study Root Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.2.1", True, True),
    ("Study Root Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.2.2", True, True),
    ("Patient/Study Only Query/Retrieve Information Model - FIND", "1.2.840.10008.5.1.4.1.2.3.1", False, False),  # Table 1: No / No
    ("Patient/Study Only Query/Retrieve Information Model - MOVE", "1.2.840.10008.5.1.4.1.2.3.2", False, False),  # Table 1: No / No
    # --- Table 1, "Print Management" ---
    ("Basic Grayscale Print Management Meta", "1.2.840.10008.5.1.1.9", True, False),
    ("Basic Color Print Management Meta", "1.2.840.10008.5.1.1.18", True, False),
    ("Basic Film Session", "1.2.840.10008.5.1.1.1", True, False),
    ("Basic Film Box", "1.2.840.10008.5.1.1.2", True, False),
    ("Basic Grayscale Image Box", "1.2.840.10008.5.1.1.4", True, False),
    ("Basic Color Image Box", "1.2.840.10008.5.1.1.4.1", True, False),
    ("Printer", "1.2.840.10008.5.1.1.16", True, False),
    ("Print Job", "1.2.840.10008.5.1.1.14", True, False),
    ("Presentation LUT", "1.2.840.10008.5.1.1.23", True, False),
]
