"""``vscanner serve``: the product's provider roles on one port, in the foreground."""

from __future__ import annotations

__all__ = ["Server"]

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import SiteConfig
from ..errors import NetworkError
from ..profile import Profile
from ..store import Store
from .ae import build_acceptor, build_provider

if TYPE_CHECKING:
    from ..security.audit import AuditTrail
    from ..security.tls import TLSSettings

LOGGER = logging.getLogger(__name__)


class Server:
    """A running acceptor for one profile.

    Parameters
    ----------
    profile : Profile
    data : path
        The store folder (index and received files).
    ae_title : str, optional
        Defaults to the profile's default AE title.
    host, port : listening address; *port* defaults to the profile's default port.
    site : SiteConfig, optional
        The site configuration: its nodes are the known calling AE titles (for a profile
        whose ``calling_ae_policy`` is ``"configured"``), the C-MOVE destinations and the
        addresses storage commitment reports go to. Without one (or without a ``source``
        file), calling AE titles are not checked.
    accept_any_calling_ae : bool
        The statements' "answer any AET" switch: accept every calling AE title.
    store_quota, min_free_space : int, optional
        Bytes; beyond the quota, or under the free space, C-STORE answers out of resources.
    tls : TLSSettings, optional
        Also listen with TLS on *tls_port* (default: the profile's secure port); only for a
        profile whose statement states TLS (:func:`appliance.security.tls.require_tls`).
    tls_port : int, optional
    plain : bool
        Listen on the plain port too (default); False with *tls* serves the secure port only.
    audit : AuditTrail, optional
        Write PS3.15 audit messages for the associations (:mod:`appliance.security.audit`).
    association_timeout, network_timeout : float, optional
        Seconds; override the profile's ``[network.timeouts]`` association_request (how long a
        connection may take to send its A-ASSOCIATE-RQ) and idle/network (how long an
        association may stay silent before it is aborted).
    """

    def __init__(
        self,
        profile: Profile,
        data: str | Path,
        ae_title: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        site: SiteConfig | None = None,
        accept_any_calling_ae: bool = False,
        store_quota: int | None = None,
        min_free_space: int | None = None,
        tls: "TLSSettings | None" = None,
        tls_port: int | None = None,
        plain: bool = True,
        audit: "AuditTrail | None" = None,
        association_timeout: float | None = None,
        network_timeout: float | None = None,
    ) -> None:
        self.profile = profile
        self.ae_title = ae_title or profile.identity.default_ae_title
        self.host = host
        self.port = profile.identity.default_port if port is None else port
        self.store = Store(data, duplicates=profile.storage_scp.duplicates)
        nodes = list((site.nodes or {}).values()) if site is not None and (site.source or site.nodes) else None
        self.provider = build_provider(profile, self.store, self.ae_title, nodes=nodes,
                                       accept_any_calling_ae=accept_any_calling_ae, store_quota=store_quota,
                                       min_free_space=min_free_space)
        self.ae = build_acceptor(profile, self.ae_title, self.provider.policy)
        # the statements' time-outs are configurable; the profile holds their defaults
        if association_timeout is not None:
            self.ae.acse_timeout = association_timeout
        if network_timeout is not None:
            self.ae.network_timeout = network_timeout
        if self.provider.commitment is not None:
            self.provider.commitment.ae = self.ae
        self._server = None
        self._servers: list = []
        self._stopped = threading.Event()
        self.audit = audit
        self.auditor = None
        if audit is not None:
            from ..security.audit import AssociationAuditor

            self.auditor = AssociationAuditor(audit, self.ae_title, self.provider.policy)
        self.tls_context = None
        self.tls_port: int | None = None
        if tls is not None:
            from ..security.tls import acceptor_context, tls_port as product_tls_port

            self.tls_context = acceptor_context(profile, tls, self.auditor.tls_refused if self.auditor else None)
            self.tls_port = product_tls_port(profile) if tls_port is None else tls_port
        elif not plain:
            raise NetworkError("nothing to serve: neither the plain nor the TLS port",
                               "give --tls (with certificates) or leave the plain port on")
        self.plain = plain

    def _handlers(self) -> list[tuple]:
        handlers = self.provider.handlers()
        if self.auditor is not None:
            handlers += self.auditor.handlers()
        return handlers

    def _listen(self, port: int, ssl_context=None):  # type: ignore[no-untyped-def]
        try:
            server = self.ae.start_server((self.host, port), block=False, evt_handlers=self._handlers(),
                                          ssl_context=ssl_context)
        except OSError as exc:
            option = "--tls-port" if ssl_context is not None else "--port"
            raise NetworkError(
                f"cannot listen on {self.host}:{port}: {exc.strerror}",
                f"choose another {option} (ports below 1024 need root) or stop what uses it",
            ) from exc
        self._servers.append(server)
        return server

    def start(self) -> None:
        """Start listening (returns at once)."""
        try:
            if self.tls_context is not None:
                assert self.tls_port is not None
                tls_server = self._listen(self.tls_port, self.tls_context)
                self.tls_port = tls_server.server_address[1]
                # The same line as for the plain port, so that scripts can wait for either.
                LOGGER.info("serving %s as %s with TLS on %s:%d (min %s, peer certificate %s)", self.profile.id,
                            self.ae_title, self.host, self.tls_port, self.tls_context.minimum_version.name,
                            self.profile.security.tls_client_certificate)
            if self.plain:
                self._server = self._listen(self.port)
                self.port = self._server.server_address[1]
        except Exception:
            self._stop_servers()
            raise
        if self.audit is not None:
            self.audit.application(True, self.ae_title)
            LOGGER.info("audit trail: %s", self.audit.describe())
        if not self.plain:
            return self._started()
        LOGGER.info(
            "serving %s as %s on %s:%d (%d SCP presentation contexts, max PDU %d, max %s associations), store %s",
            self.profile.id,
            self.ae_title,
            self.host,
            self.port,
            len(self.ae.supported_contexts),
            self.profile.network.max_pdu_receive,
            self.profile.network.max_associations_accepted or "unlimited",
            self.store.root,
        )
        self._started()

    def _started(self) -> None:
        LOGGER.info("association acceptance: %s", self.provider.policy.describe())
        qr = self.provider.query_retrieve
        if qr is not None:
            q = self.profile.query_retrieve
            LOGGER.info("query/retrieve SCP: %s; C-MOVE destinations: %s", ", ".join(q.scp_operations),
                        ", ".join(str(n) for n in qr.nodes) or "none (no site configuration nodes)")
        if self.provider.commitment is not None:
            LOGGER.info("storage commitment SCP: reports on %s association",
                        {"same": "the same", "new": "a new", "either": "the same or a new"}[
                            self.profile.storage_commitment.report_association])
            self.provider.commitment.start()

    def stop(self) -> None:
        """Stop listening, abort nothing in flight: active associations finish first."""
        if self._servers:
            if self.provider.commitment is not None:
                self.provider.commitment.stop()
            self._stop_servers()
            self.ae.shutdown()
            self.store.close()
            if self.audit is not None:
                self.audit.application(False, self.ae_title)
                self.audit.close()
            LOGGER.info("stopped")
        self._stopped.set()

    def _stop_servers(self) -> None:
        for server in self._servers:
            server.shutdown()
        self._servers = []
        self._server = None

    def serve_forever(self) -> None:
        """Start, then block until SIGINT or SIGTERM, then stop cleanly."""
        self.start()
        previous = {}

        def _on_signal(signum: int, _frame: object) -> None:
            LOGGER.info("received %s, stopping", signal.Signals(signum).name)
            self._stopped.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
