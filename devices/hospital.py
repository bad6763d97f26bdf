"""The embedded hospital: RIS, PACS, film camera and CD burner for one scanner, in-process.

Everything a scanner talks to during an exam, started on free 127.0.0.1 ports and stopped
again - for ``vscanner demo``, for scripted scenarios and for someone else's CI::

    from devices.hospital import Hospital
    from appliance.workflow import run_exam

    with Hospital("syngo-ct-va50a") as hospital:        # RIS + PACS + camera + burner
        result = run_exam(hospital)                      # worklist ... burn, one exam
        assert result.ok, result.table()
        assert hospital.pacs.holds(result.sent)          # the archive has every instance

:attr:`Hospital.site` is an :class:`appliance.config.SiteConfig` with the scanner as
``[local]`` (its AE title, the port it takes storage commitment reports on, its data folder)
and the nodes ``ris`` (worklist, mpps), ``pacs`` (archive, storage_commitment,
query_retrieve) and ``printer`` (printer) - the same configuration a real site would give
``vscanner --config``. :meth:`Hospital.write_config` writes it as TOML.

The RIS holds a generated schedule for the scanner's AE title (realistic orders in the
product's character sets, see :mod:`devices.ris`); the PACS knows the scanner as a node (for
commitment reports and C-MOVE). The film camera (:mod:`devices.printer`) and the burner
(:mod:`devices.burner`) are optional: when their modules cannot be imported the hospital starts
without them and :attr:`Hospital.missing` says why.
"""

from __future__ import annotations

__all__ = ["Hospital"]

import logging
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from appliance.config import Local, Node, SiteConfig
from appliance.errors import UsageError
from appliance.profile import Profile, ae_title_problem, find_profile

from .pacs import PACS
from .ris import RIS, generate_schedule

LOGGER = logging.getLogger(__name__)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Hospital:
    """RIS, PACS, printer and burner for one scanner; a context manager.

    Parameters
    ----------
    profile : Profile or str
        The scanner's product (a profile id or path).
    folder : path, optional
        Where everything lives (``scanner/``, ``pacs/``, ``films/``, ``discs/``); default a
        temporary folder removed by :meth:`stop` (unless *keep*).
    scanner_ae : str, optional
        The scanner's AE title; default the product's default AE title.
    commit_delay : float
        Seconds the PACS waits before its storage commitment report.
    schedule : int
        Worklist items for the scanner (plus one for another station).
    locale : str, optional
        ``"de"``, ``"en"`` or ``"ja"`` for the RIS names; default from the profile.
    seed : int
        The schedule's patients and times.
    printer, burner : bool
        Start the film camera / provide the burner (when their modules are available).
    disc_capacity : int, optional
        Capacity in bytes of the discs the burner takes (default: the medium's).
    keep : bool
        Keep *folder* when stopping (always kept when *folder* was given).
    host : str
        Loopback address everything binds.
    """

    def __init__(
        self,
        profile: Profile | str = "syngo-mr-xa11b",
        folder: str | Path | None = None,
        *,
        scanner_ae: str | None = None,
        commit_delay: float = 0.2,
        schedule: int = 6,
        locale: str | None = None,
        seed: int = 0,
        printer: bool = True,
        burner: bool = True,
        disc_capacity: int | None = None,
        keep: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.profile = find_profile(profile) if isinstance(profile, str) else profile
        self.scanner_ae = scanner_ae or self.profile.identity.default_ae_title
        bad = ae_title_problem(self.scanner_ae)
        if bad:
            raise UsageError(f"scanner AE title: {bad}", "give 1-16 ASCII characters")
        self._own_folder = folder is None
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="vscanner-hospital-"))
        self.keep = keep or not self._own_folder
        self.commit_delay = commit_delay
        self.schedule_size = schedule
        self.locale = locale
        self.seed = seed
        self.want_printer = printer
        self.want_burner = burner
        self.disc_capacity = disc_capacity
        self.host = host
        self.ris: RIS | None = None
        self.pacs: PACS | None = None
        self.printer: Any = None
        self.burner: Any = None
        self.missing: dict[str, str] = {}  # device -> why it is not available
        self.scanner_port = 0
        self._started = False

    # --- life cycle --------------------------------------------------------------------------

    def start(self) -> "Hospital":
        if self._started:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self.scanner_port = _free_port(self.host)
            scanner = self.scanner_node
            from acquisition import list_protocols

            protocols = [(p.name, p.body_part) for p in list_protocols(self.profile)]
            items = generate_schedule(self.profile, self.scanner_ae, count=self.schedule_size, seed=self.seed,
                                      locale=self.locale, protocols=protocols,
                                      station_name=self.scanner_ae)
            self.ris = RIS(ae_title="RIS", host=self.host, items=items).start()
            self.pacs = PACS(self.folder / "pacs", ae_title="PACS", host=self.host, commit_delay=self.commit_delay,
                             nodes=[scanner]).start()
            if self.want_printer:
                self._start_printer()
            if self.want_burner:
                self._make_burner()
        except BaseException:
            self.stop()
            raise
        self._started = True
        LOGGER.info("embedded hospital for %s (%s): RIS %s, PACS %s, printer %s, burner %s, folder %s",
                    self.scanner_ae, self.profile.id, self.ris.node, self.pacs.node,
                    self.printer_node or self.missing.get("printer", "off"),
                    "ready" if self.burner is not None else self.missing.get("burner", "off"), self.folder)
        return self

    def _start_printer(self) -> None:
        try:
            from devices.printer import FilmPrinter
        except ImportError as exc:
            self.missing["printer"] = f"not available: devices.printer cannot be imported ({exc})"
            LOGGER.warning("film camera %s", self.missing["printer"])
            return
        self.printer = FilmPrinter(self.folder / "films", ae_title="CAMERA", host=self.host, port=0)
        self.printer.start()

    def _make_burner(self) -> None:
        try:
            from devices.burner import Burner
        except ImportError as exc:
            self.missing["burner"] = f"not available: devices.burner cannot be imported ({exc})"
            LOGGER.warning("burner %s", self.missing["burner"])
            return
        self.burner = Burner(self.folder / "discs", capacity_bytes=self.disc_capacity)

    def stop(self) -> None:
        """Stop every device (bounded waits); remove the folder unless it is to be kept."""
        for name in ("printer", "pacs", "ris"):
            dev = getattr(self, name)
            if dev is not None:
                try:
                    dev.stop()
                except Exception:  # stopping one device must not keep the others running
                    LOGGER.exception("stopping the %s failed", name)
                setattr(self, name, None)
        self._started = False
        if not self.keep and self.folder.exists():
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Hospital":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the configuration -------------------------------------------------------------------

    @property
    def scanner_node(self) -> Node:
        """The scanner as the other devices know it (storage commitment reports, C-MOVE)."""
        return Node(ae_title=self.scanner_ae, host=self.host, port=self.scanner_port, name="scanner")

    @property
    def scanner_data(self) -> Path:
        return self.folder / "scanner"

    @property
    def printer_node(self) -> Node | None:
        if self.printer is None:
            return None
        return Node(ae_title=self.printer.ae_title, host=self.host, port=int(self.printer.port), roles=("printer",),
                    name="printer")

    @property
    def nodes(self) -> dict[str, Node]:
        out: dict[str, Node] = {}
        if self.ris is not None:
            out["ris"] = self.ris.node
        if self.pacs is not None:
            out["pacs"] = self.pacs.node
        if self.printer_node is not None:
            out["printer"] = self.printer_node
        return out

    @property
    def site(self) -> SiteConfig:
        """The scanner's site configuration for this hospital."""
        local = Local(ae_title=self.scanner_ae, host=self.host, port=self.scanner_port,
                      profile=self.profile.source or self.profile.id, data=str(self.scanner_data))
        return SiteConfig(local=local, nodes=self.nodes, source=f"embedded hospital in {self.folder}")

    def write_config(self, path: str | Path) -> Path:
        """Write :attr:`site` as a ``vscanner --config`` TOML file (valid while running)."""
        path = Path(path)
        site = self.site
        lines = ["[local]", f'ae_title = "{site.local.ae_title}"', f'host = "{site.local.host}"',
                 f"port = {site.local.port}", f'profile = "{site.local.profile}"', f'data = "{site.local.data}"', ""]
        for name, n in (site.nodes or {}).items():
            roles = ", ".join(f'"{r}"' for r in n.roles)
            lines += [f"[nodes.{name}]", f'ae_title = "{n.ae_title}"', f'host = "{n.host}"', f"port = {n.port}",
                      f"roles = [{roles}]", ""]
        path.write_text("\n".join(lines))
        return path

    def describe(self) -> list[str]:
        """One line per device, for a terminal."""
        lines = [f"scanner  {self.scanner_ae}@{self.host}:{self.scanner_port}  ({self.profile.id})"]
        if self.ris is not None:
            mine = sum(1 for i in self.ris.items
                       if i.ScheduledProcedureStepSequence[0].get("ScheduledStationAETitle") == self.scanner_ae)
            lines.append(f"RIS      {self.ris.node}  worklist + MPPS, {mine} step(s) scheduled today for "
                         f"{self.scanner_ae} ({len(self.ris.items)} in all)")
        if self.pacs is not None:
            lines.append(f"PACS     {self.pacs.node}  storage, commitment (report after {self.pacs.commit_delay:g} s "
                         "on a new association), Q/R")
        lines.append(f"printer  {self.printer_node}  films -> {self.folder / 'films'}" if self.printer is not None
                     else f"printer  {self.missing.get('printer', 'off')}")
        lines.append(f"burner   CD/DVD/BD -> {self.folder / 'discs'}" if self.burner is not None
                     else f"burner   {self.missing.get('burner', 'off')}")
        return lines
