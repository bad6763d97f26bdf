"""Site configuration: who this scanner is on the network and which remote nodes it talks to.

A TOML file, as a scanner's service configuration would hold it::

    [local]
    ae_title = "VSCANNER"        # this console's AE title
    port = 11112                 # where it listens (C-MOVE destination, commitment reports)
    profile = "syngo-mr-xa11b"   # the product it behaves as
    data = "vscanner-data"       # store and job queue folder
    tls_certificate = "scanner.pem"   # TLS (products that state it): this console's certificate,
    tls_private_key = "scanner.key"   # its private key
    tls_ca = "ca.pem"                 # and the CAs trusted for peers' certificates (PEM)

    [nodes.pacs]
    ae_title = "ORTHANC"
    host = "127.0.0.1"
    port = 4242
    roles = ["archive", "storage_commitment", "query_retrieve"]
    tls = false                  # true: associate over TLS (certificates from [local])

    [nodes.ris]
    ae_title = "WLMSCP"
    host = "127.0.0.1"
    port = 11113
    roles = ["worklist", "mpps"]

The file is found by ``--config FILE``, else ``$VSCANNER_CONFIG``, else ``./vscanner.toml``
if it exists; with none, the defaults below apply and nodes can only be given as
``AET@host:port``. Unknown keys are errors, as in profiles.
"""

from __future__ import annotations

__all__ = ["Local", "Node", "SiteConfig", "load_site_config", "resolve_node", "ROLES", "DEFAULT_FILE"]

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ConfigError, UsageError
from .profile import build_table, schema_field

ROLES = ("archive", "storage_commitment", "query_retrieve", "worklist", "mpps", "printer")
DEFAULT_FILE = "vscanner.toml"
_NODE_RE = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True, kw_only=True)
class Local:
    ae_title: str = schema_field("VSCANNER", check="ae")
    host: str = schema_field("127.0.0.1")
    port: int = schema_field(11112)
    profile: str = schema_field("syngo-mr-xa11b")
    data: str = schema_field("vscanner-data")
    tls_certificate: str = schema_field("")
    tls_private_key: str = schema_field("")
    tls_ca: str = schema_field("")


@dataclass(frozen=True, kw_only=True)
class Node:
    """A remote DICOM application entity."""

    ae_title: str = schema_field(check="ae")
    host: str = schema_field()
    port: int = schema_field()
    tls: bool = schema_field(False)
    roles: tuple[Literal[ROLES], ...] = schema_field(())  # type: ignore[valid-type]
    name: str = schema_field("")

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True, kw_only=True)
class SiteConfig:
    local: Local = schema_field(Local())
    nodes: dict[str, Node] | None = schema_field(None)
    source: str = schema_field("")

    def node(self, name_or_address: str) -> Node:
        return resolve_node(name_or_address, self)

    def nodes_with_role(self, role: str) -> list[Node]:
        return [n for n in (self.nodes or {}).values() if role in n.roles]


def load_site_config(path: str | os.PathLike[str] | None = None) -> SiteConfig:
    """Load the site configuration (see the module docstring for where it is looked for)."""
    if path is None:
        env = os.environ.get("VSCANNER_CONFIG")
        if env:
            path = env
        elif Path(DEFAULT_FILE).is_file():
            path = DEFAULT_FILE
        else:
            return SiteConfig()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"site configuration {path} not found", "give an existing file to --config") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    nodes = data.get("nodes")
    if isinstance(nodes, dict):
        for name, table in nodes.items():
            if isinstance(table, dict):
                table.setdefault("name", name)
    data["source"] = str(path)
    config, problems = build_table(SiteConfig, data, str(path))
    if problems:
        raise ConfigError(problems, "fix the site configuration (see appliance/config.py for every key)")
    return config


def resolve_node(text: str, config: SiteConfig | None = None) -> Node:
    """A node from a configured name or from ``AET@host:port``."""
    config = config or SiteConfig()
    if config.nodes and text in config.nodes:
        return config.nodes[text]
    m = _NODE_RE.match(text)
    if m:
        port = int(m["port"])
        if not 0 < port < 65536:
            raise UsageError(f"node {text!r}: port {port} out of range")
        return Node(ae_title=m["aet"], host=m["host"], port=port, name=text)
    known = ", ".join(sorted(config.nodes or {})) or "none configured"
    raise UsageError(
        f"unknown node {text!r}",
        f"give a configured node name ({known}) or AET@host:port, e.g. STORESCP@127.0.0.1:11112",
    )
