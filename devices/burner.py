"""An emulated CD/DVD/BD burner: drive states, discs, faults; a burn writes an ``.iso`` file.

States (``Burner.state``)::

    empty --load_disc()--> loaded --burn()--> burning --> verifying --> loaded (disc closed)
      ^                      |                   |            |
      +------- eject() ------+---> ejected       +-- error ---+--> loaded (disc unchanged)

``burn`` writes the image through :func:`appliance.media.iso.write_iso` (temporary file,
fsync, rename), so a failed burn leaves no ``.iso`` behind. After writing it *verifies*:
the image is re-read and every file of the source tree is compared by content hash.
A burned disc is closed (finalized); burning it again raises ``ClosedDisc``.

Faults for tests and training (``set_error``): ``"no_disc"``, ``"disc_full"``,
``"write_error"`` (fails half-way through the write), ``"closed_disc"``,
``"verify_error"``. They stay set until ``set_error(None)``.

State changes and progress go to the ``on_event`` callback (``event, data``) as well as to
the ``progress`` callable given to :meth:`Burner.burn` (``stage, done, total``).
"""

from __future__ import annotations

__all__ = ["Burner", "Disc", "DISC_CAPACITY", "FAULTS"]

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from appliance.media.application_profiles import MEDIA
from appliance.media.errors import ClosedDisc, DiscFull, MediaError, NoDisc, WriteError

if TYPE_CHECKING:
    from appliance.media.iso import ImageFile

LOGGER = logging.getLogger(__name__)

DISC_CAPACITY = {kind: MEDIA[kind].capacity for kind in ("CD", "DVD", "BD")}
FAULTS = ("no_disc", "disc_full", "write_error", "closed_disc", "verify_error")
STATES = ("empty", "loaded", "burning", "verifying", "ejected")


@dataclass
class Disc:
    """The disc in the drive."""

    kind: str
    capacity: int
    closed: bool = False
    image: Path | None = None
    label: str = ""


class Burner:
    """One optical drive writing images into *output_folder*.

    Parameters
    ----------
    output_folder : Path
        Where burned images (``<name>.iso``) appear.
    capacity_bytes : int, optional
        Capacity of every disc loaded without its own (default: CD 700 MiB, DVD 4.7 GB,
        BD 25 GB).
    on_event : callable, optional
        ``on_event(event, data)`` for ``"state"`` changes and ``"progress"``.
    """

    def __init__(self, output_folder: Path, capacity_bytes: int | None = None,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.output_folder = Path(output_folder)
        self.output_folder.mkdir(parents=True, exist_ok=True)
        self.capacity_bytes = capacity_bytes
        self.on_event = on_event
        self.disc: Disc | None = None
        self._state = "empty"
        self._error: str | None = None
        self._lock = threading.Lock()
        self.burned: list[Path] = []

    # --- state ------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str) -> None:
        assert state in STATES
        self._state = state
        LOGGER.info("burner: %s", state)
        if self.on_event:
            self.on_event("state", {"state": state})

    @property
    def disc_kind(self) -> str | None:
        return self.disc.kind if self.disc else None

    @property
    def disc_capacity(self) -> int | None:
        return self.disc.capacity if self.disc else None

    def load_disc(self, kind: str = "CD", capacity_bytes: int | None = None) -> Disc:
        """Put a blank disc of *kind* (``"CD"``, ``"DVD"``, ``"BD"``) into the drive."""
        kind = kind.upper()
        if kind not in DISC_CAPACITY:
            raise MediaError(f"unknown disc kind {kind!r}", "use CD, DVD or BD")
        if self._state in ("burning", "verifying"):
            raise MediaError("the drive is busy burning", "wait for the burn to finish")
        capacity = capacity_bytes or self.capacity_bytes or DISC_CAPACITY[kind]
        self.disc = Disc(kind, int(capacity))  # type: ignore[arg-type]
        self._set_state("loaded")
        return self.disc

    def eject(self) -> Disc | None:
        """Open the tray: the disc (burned or not) leaves the drive."""
        if self._state in ("burning", "verifying"):
            raise MediaError("the drive is busy burning", "wait for the burn to finish")
        disc, self.disc = self.disc, None
        self._set_state("ejected")
        return disc

    def set_error(self, name: str | None) -> None:
        """Inject a fault for the next burns (see the module docstring), or clear it."""
        if name is not None and name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        self._error = name

    @property
    def fault(self) -> str | None:
        """The injected fault, or None (what the console's Devices screen shows)."""
        return self._error

    # --- burning ----------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise ``NoDisc`` / ``ClosedDisc`` unless a blank disc is loaded."""
        if self._error == "no_disc" or self.disc is None or self._state in ("empty", "ejected"):
            raise NoDisc("no disc in the drive", "insert a blank CD, DVD or BD (load_disc) and try again")
        if self._error == "closed_disc" or self.disc.closed:
            raise ClosedDisc("the disc in the drive is closed (finalized) and cannot be written",
                             "eject it and insert a blank disc")
        if self._state != "loaded":
            raise MediaError(f"the drive is {self._state}", "wait for the drive to be ready")

    def burn(
        self,
        tree: "Path | Sequence[ImageFile]",
        *,
        volume_label: str,
        name: str | None = None,
        joliet: bool = False,
        application: str = "",
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Path:
        """Burn the file-set *tree* (a folder, or its files as ``ImageFile``); return the image path.

        Raises ``NoDisc``, ``ClosedDisc``, ``DiscFull`` (nothing written), ``WriteError``
        (the partial image is removed), ``MediaError`` when verification fails.
        """
        from appliance.media.iso import iso_size, write_iso

        with self._lock:
            self.check_writable()
            assert self.disc is not None
            out = self.output_folder / (name or f"{volume_label}.iso")
            n = 1
            while out.exists():  # every disc is its own image: never overwrite an earlier one
                n += 1
                stem = Path(name or f"{volume_label}.iso").stem
                out = self.output_folder / f"{stem}-{n}.iso"
            size = iso_size(tree, joliet=joliet, volume_label=volume_label)
            if self._error == "disc_full" or size > self.disc.capacity:
                raise DiscFull(
                    f"the image needs {size / 1e6:.1f} MB but the {self.disc.kind} holds "
                    f"{self.disc.capacity / 1e6:.1f} MB",
                    "insert a larger disc (DVD or BD) or burn fewer studies",
                )
            self._set_state("burning")
            fail_at = size // 2 if self._error == "write_error" else None

            def on_write(done: int, total: int) -> None:
                if fail_at is not None and done >= fail_at:
                    raise OSError(5, "simulated write error (laser calibration failed)")
                if progress:
                    progress("write", done, total)
                if self.on_event:
                    self.on_event("progress", {"stage": "write", "done": done, "total": total})

            try:
                try:
                    write_iso(tree, out, volume_label=volume_label, joliet=joliet, application=application,
                              progress=on_write, capacity=self.disc.capacity)
                except OSError as exc:  # raised from the callback inside pycdlib's write
                    raise WriteError(f"the drive failed while writing {out.name}: {exc.strerror or exc}",
                                     "try another blank disc; nothing was written") from exc
                except WriteError:
                    raise
                self._set_state("verifying")
                self._verify(tree, out, progress)
            except BaseException:
                out_exists = out.exists() and out not in self.burned
                if out_exists and self._state == "verifying":
                    out.unlink(missing_ok=True)  # a disc that fails verification is not delivered
                self._set_state("loaded")
                raise
            self.disc.closed = True
            self.disc.image = out
            self.disc.label = volume_label
            self.burned.append(out)
            self._set_state("loaded")
            return out

    def _verify(self, tree: "Path | Sequence[ImageFile]", image: Path,
                progress: Callable[[str, int, int], None] | None) -> None:
        from appliance.media.iso import IsoReader, tree_files

        if self._error == "verify_error":
            raise MediaError(f"verification of {image.name} failed (simulated read error)", "burn again on a new disc")
        files = tree_files(tree)
        total = sum(f.size for f in files)
        done = 0
        with IsoReader(image) as reader:
            for f in files:
                data = reader.read(list(f.path))
                if hashlib.sha256(data).digest() != hashlib.sha256(f.read()).digest():
                    raise MediaError(f"verification of {image.name} failed at {'/'.join(f.path)}",
                                     "burn again on a new disc")
                done += len(data)
                if progress:
                    progress("verify", done, total)
