"""The console's reaction to a printer status: pure policy from the profile's ``[print]`` table.

A camera reports Printer Status (NORMAL, WARNING, FAILURE) with a Printer Status Info defined
term (N-GET of the Printer SOP instance, Printer N-EVENT-REPORT), and a print job reports an
Execution Status Info (Print Job N-EVENT-REPORT). The statements of syngo MI PET/CT (§3.5.2.1.3.8),
COHERENCE (§A.10) and syngo CT (§9.7) list, per info value, the message shown in the status bar
and the camera symbol: *idle*, *interact* (the user must react soon) or *queue stopped* (the
print queue for that camera is stopped). :func:`react` looks the value up in
``profile.print.status_reactions``, then in the catch-all rules (``unknown_status_rules``, by
Printer Status), then applies the engine default described in docs/profiles.md.
"""

from __future__ import annotations

__all__ = ["Reaction", "react", "worst", "may_print", "normalize_info", "SEVERITY", "status_vocabulary",
           "default_printer_status", "default_info"]

from dataclasses import dataclass
from functools import lru_cache

from ..profile import Print

SEVERITY = {"idle": 0, "interact": 1, "queue_stopped": 2}


@dataclass(frozen=True)
class Reaction:
    """What the console does about one status report."""

    printer_status: str          # NORMAL, WARNING, FAILURE ("" when only an info is known)
    info: str                    # the Printer / Execution Status Info as received (normalized)
    reaction: str                # idle, interact, queue_stopped
    message: str                 # the status-bar message ("" = none)
    rule: str                    # "table", "catch-all" or "default"
    vendor: str | None = None

    @property
    def queue_stopped(self) -> bool:
        return self.reaction == "queue_stopped"

    def as_dict(self) -> dict[str, object]:
        return {"printer_status": self.printer_status, "info": self.info, "reaction": self.reaction,
                "message": self.message, "rule": self.rule, "vendor": self.vendor}


def normalize_info(info: str | None) -> str:
    """Upper case, single spaces, no padding (Code String comparison)."""
    return " ".join(str(info or "").upper().split())


def react(pp: Print, printer_status: str | None, info: str | None, *, kind: str = "printer") -> Reaction:
    """The reaction of a product (its ``[print]`` profile section) to *printer_status* / *info*.

    Parameters
    ----------
    pp : appliance.profile.Print
    printer_status : str
        Printer Status (or the Print Job's Execution Status mapped to it: FAILURE for a failed
        job, else NORMAL); may be empty.
    info : str
        Printer Status Info, or Execution Status Info when *kind* is ``"execution"``.
    kind : str
        ``"printer"`` or ``"execution"``: which entries of the table apply.
    """
    status = normalize_info(printer_status)
    text = normalize_info(info)
    lookup = text or (status if status == "NORMAL" else "")
    if lookup:
        for r in pp.status_reactions:
            if r.applies_to not in ("both", kind):
                continue
            if normalize_info(r.info) == lookup:
                return Reaction(status, text, r.reaction, r.message, "table", r.vendor)
    if pp.evaluates_printer_status or not text:
        for rule in pp.unknown_status_rules:
            if rule.printer_status == status:
                return Reaction(status, text, rule.reaction, " ".join(rule.message.replace("{info}", text).split()), "catch-all")
    # engine default (docs/profiles.md)
    if not pp.evaluates_printer_status and text:
        return Reaction(status, text, "interact", text, "default")
    if status == "FAILURE":
        return Reaction(status, text, "queue_stopped", f"{status}: {text}".strip(": "), "default")
    if status == "WARNING":
        return Reaction(status, text, "interact", f"{status}: {text}".strip(": "), "default")
    return Reaction(status, text, "idle", "", "default")


def worst(*reactions: Reaction | None) -> Reaction | None:
    """The most severe of *reactions* (queue_stopped > interact > idle), the last of equals."""
    best: Reaction | None = None
    for r in reactions:
        if r is not None and (best is None or SEVERITY[r.reaction] >= SEVERITY[best.reaction]):
            best = r
    return best


def may_print(pp: Print, reaction: Reaction) -> tuple[bool, str]:
    """Whether a job may start now, and why not."""
    if reaction.queue_stopped:
        return False, "the print queue for this camera is stopped"
    if pp.print_only_when_normal and reaction.printer_status not in ("NORMAL", ""):
        return False, f"the printer status is {reaction.printer_status}, printing starts only when it is NORMAL"
    return True, ""


# --- the camera status vocabulary (used by the emulated camera and the status line) -------------------

# Emulator choice (the statements give no Printer Status per info): infos that leave the camera
# ready are NORMAL, those that announce a problem still allowing prints are WARNING, the rest FAILURE.
_NORMAL_INFOS = {"NORMAL", "STANDARD", "QUEUED", "NONE"}
_WARNING_INFOS = {"CALIBRATING", "PRINTER INIT", "PROC INIT", "WARMING UP", "CALIBRATION ERR", "CHECK CHEMISTRY",
                  "CHEMICALS LOW", "FINISHER LOW", "SUPPLY LOW", "PROC OVERFLOW FL", "CHECK SORTER", "OFFLINE"}


def default_printer_status(info: str) -> str:
    """The Printer Status an emulated camera reports with *info* (an emulator choice)."""
    text = normalize_info(info)
    if text in _NORMAL_INFOS:
        return "NORMAL"
    if text in _WARNING_INFOS or text.startswith("LOW "):
        return "WARNING"
    return "FAILURE"


def default_info(printer_status: str) -> str:
    """The Printer Status Info for a status given without one."""
    return "NORMAL" if printer_status.upper() == "NORMAL" else "UNKNOWN"


@lru_cache(maxsize=1)
def _statement_infos() -> tuple[str, ...]:
    from ..profile import available_profiles, find_profile

    seen: dict[str, None] = {}
    for path in available_profiles().values():
        try:
            p = find_profile(str(path))
        except Exception:  # a broken extra profile must not break the vocabulary
            continue
        for r in p.print.status_reactions:
            seen.setdefault(r.info, None)
    return tuple(seen)


def status_vocabulary() -> dict[str, str]:
    """Every Printer / Execution Status Info the built-in statements list -> its Printer Status."""
    return {info: default_printer_status(info) for info in _statement_infos()}
