"""Media: a product's file-sets on CD/DVD/BD (ISO images), USB sticks and FAT images.

The public API (used by the CLI and the whole-exam workflow):

- :func:`burn` (FSC): instances -> the product's DICOMDIR and files -> an ISO image, or a
  burn on an emulated :class:`devices.burner.Burner`;
- :func:`export_folder` (FSC/FSU onto a mounted USB stick), :func:`update_file_set` (FSU),
  :func:`export_fat_image` (a FAT image with mtools);
- :func:`import_media` (FSR): a medium (ISO, folder, FAT image) into the store;
  :func:`browse` lists its directory records;
- :func:`application_profile`: a PS3.11 media application profile as data.

See the modules: ``application_profiles`` (the PS3.11 tables), ``fileset`` (pydicom
FileSet with the product's DICOMDIR), ``transcode``, ``deidentify``, ``iso``, ``export``,
``reader``.
"""

from __future__ import annotations

__all__ = [
    "burn",
    "BurnResult",
    "import_media",
    "ImportResult",
    "browse",
    "export_folder",
    "export_fat_image",
    "update_file_set",
    "write_file_set",
    "choose_profile",
    "application_profile",
    "ApplicationProfile",
    "MediaError",
    "NoDisc",
    "DiscFull",
    "WriteError",
    "ClosedDisc",
    "NoEncoder",
]

from .application_profiles import ApplicationProfile, application_profile
from .errors import ClosedDisc, DiscFull, MediaError, NoDisc, NoEncoder, WriteError
from .export import (BurnResult, burn, choose_profile, export_fat_image, export_folder, update_file_set,
                     write_file_set)
from .reader import ImportResult, browse, import_media
