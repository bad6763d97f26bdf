"""An emulated USB stick: a folder that is "mounted" while the stick is plugged in.

The appliance writes file-sets to :attr:`UsbStick.mount` (FSC on an empty stick, FSU when
it already holds a DICOMDIR; see :func:`appliance.media.export_folder`). ``capacity_bytes``
limits what fits; ``free_bytes`` is what the stick reports. ``unplug()`` makes the mount
point unavailable, as pulling a real stick does. A FAT image of a stick is written by
:func:`appliance.media.export_fat_image` (mtools).
"""

from __future__ import annotations

__all__ = ["UsbStick"]

import shutil
from pathlib import Path

from appliance.media.errors import MediaError

DEFAULT_CAPACITY = 8 * 1024**3  # an 8 GiB stick


class UsbStick:
    """A USB stick backed by the folder *folder* (created)."""

    def __init__(self, folder: Path, capacity_bytes: int = DEFAULT_CAPACITY, label: str = "VSCANNER") -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.capacity_bytes = int(capacity_bytes)
        self.label = label
        self.plugged = True

    @property
    def mount(self) -> Path:
        """The mount point; :class:`MediaError` when the stick is unplugged."""
        if not self.plugged:
            raise MediaError("no USB stick is plugged in", "plug the stick in (UsbStick.plug())")
        return self.folder

    @property
    def used_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    @property
    def free_bytes(self) -> int:
        return max(0, self.capacity_bytes - self.used_bytes)

    @property
    def has_file_set(self) -> bool:
        return (self.folder / "DICOMDIR").is_file()

    def plug(self) -> None:
        self.plugged = True

    def unplug(self) -> None:
        self.plugged = False

    def wipe(self) -> None:
        """Format the stick: remove everything on it."""
        for p in list(self.mount.iterdir()):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
