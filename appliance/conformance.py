"""Render a profile as the overview of its conformance statement (JSON or Markdown)."""

from __future__ import annotations

__all__ = ["conformance_dict", "conformance_markdown"]

from typing import Any

from pydicom.uid import UID

from .profile import Profile

# The JSON keys every consumer may rely on, in order (others may be added after them).
TS_JSON_KEYS = (
    "storage_scu",
    "storage_scp",
    "query_retrieve",
    "worklist",
    "mpps",
    "storage_commitment",
    "print",
    "media",
)


def _ts(uids: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"uid": u, "name": UID(u).name} for u in uids]


def conformance_dict(p: Profile) -> dict[str, Any]:
    """The statement overview as plain data (see README for the shape)."""
    ts = p.transfer_syntaxes
    transfer_syntaxes: dict[str, list[str]] = {k: list(getattr(ts, k)) for k in TS_JSON_KEYS}
    for k in ("verification_scu", "verification_scp", "query_retrieve_scp", "storage_commitment_event"):
        transfer_syntaxes[k] = list(getattr(ts, k))
    return {
        "profile": p.id,
        "product": p.title,
        "manufacturer": p.identity.manufacturer,
        "models": list(p.identity.models),
        "software_versions": list(p.identity.software_versions),
        "implementation_class_uid": p.identity.implementation_class_uid,
        "implementation_version_name": p.identity.implementation_version_name,
        "media_implementation_class_uid": p.media_implementation_class_uid,
        "media_implementation_version_name": p.media_implementation_version_name,
        "default_ae_title": p.identity.default_ae_title,
        "default_port": p.identity.default_port,
        "max_pdu": p.network.max_pdu_receive,
        "max_associations_accepted": p.network.max_associations_accepted,
        "sop_classes": [
            {
                "name": c.name,
                "uid": c.uid,
                "service": c.service,
                "scu": c.scu,
                "scp": c.scp,
                "creates": c.creates if c.service == "storage" else None,
            }
            for c in p.sop_classes
        ],
        "transfer_syntaxes": transfer_syntaxes,
        "media_profiles": list(p.media.profiles),
        "character_sets": list(p.character_sets.supported),
        "statement": p.statement,
    }


def _yes(flag: bool | None) -> str:
    return "Yes" if flag else ("No" if flag is not None else "-")


def conformance_markdown(p: Profile) -> str:
    """The statement overview as Markdown, in the order a conformance statement uses."""
    i = p.identity
    out = [
        f"# {p.title}",
        "",
        f"Profile `{p.id}`, from the conformance statement `{p.statement}`.",
        "",
        "## Identity",
        "",
        "| item | value |",
        "|---|---|",
        f"| Manufacturer | {i.manufacturer} |",
        f"| Product | {i.product} |",
        f"| Models | {', '.join(i.models) or '-'} |",
        f"| Software versions | {', '.join(i.software_versions) or '-'} |",
        f"| Implementation Class UID | `{i.implementation_class_uid}` |",
        f"| Implementation Version Name | `{i.implementation_version_name}` |",
        f"| Media Implementation Class UID | `{p.media_implementation_class_uid}` |",
        f"| Default AE title / port | `{i.default_ae_title}` / {i.default_port} |",
        f"| Max PDU received | {p.network.max_pdu_receive or 'unlimited'} |",
        f"| Associations accepted | {p.network.max_associations_accepted or 'unlimited'} |",
        "",
        "## Network services",
        "",
        "| SOP class | UID | service | SCU | SCP | created |",
        "|---|---|---|---|---|---|",
    ]
    for c in p.sop_classes:
        created = _yes(c.creates) if c.service == "storage" else "-"
        out.append(f"| {c.name} | `{c.uid}` | {c.service} | {_yes(c.scu)} | {_yes(c.scp)} | {created} |")
    out += ["", "## Transfer syntaxes", ""]
    ts = p.transfer_syntaxes
    for key in ("verification_scu", "verification_scp") + TS_JSON_KEYS + ("query_retrieve_scp", "storage_commitment_event"):
        uids = getattr(ts, key)
        if not uids:
            continue
        out.append(f"- **{key}**: " + ", ".join(f"{UID(u).name} (`{u}`)" for u in uids))
    out += ["", "## Media", ""]
    out.append("- profiles: " + (", ".join(p.media.profiles) or "none"))
    out += ["", "## Character sets", ""]
    out.append("- supported: " + (", ".join(p.character_sets.supported) or "none"))
    out.append(f"- written into created objects: {p.character_sets.default}")
    return "\n".join(out) + "\n"
