"""``vscanner serve``: the product's provider roles on one port, in the foreground."""

from __future__ import annotations

__all__ = ["Server"]

import logging
import signal
import threading
from pathlib import Path

from ..errors import NetworkError
from ..profile import Profile
from ..store import Store
from .ae import acceptor_handlers, build_acceptor

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
    """

    def __init__(
        self,
        profile: Profile,
        data: str | Path,
        ae_title: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.profile = profile
        self.ae_title = ae_title or profile.identity.default_ae_title
        self.host = host
        self.port = profile.identity.default_port if port is None else port
        self.store = Store(data, duplicates=profile.storage_scp.duplicates)
        self.ae = build_acceptor(profile, self.ae_title)
        self._server = None
        self._stopped = threading.Event()

    def start(self) -> None:
        """Start listening (returns at once)."""
        try:
            self._server = self.ae.start_server(
                (self.host, self.port),
                block=False,
                evt_handlers=acceptor_handlers(self.profile, self.store, self.ae_title),
            )
        except OSError as exc:
            raise NetworkError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror}",
                "choose another --port (ports below 1024 need root) or stop what uses it",
            ) from exc
        self.port = self._server.server_address[1]
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

    def stop(self) -> None:
        """Stop listening, abort nothing in flight: active associations finish first."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
            self.ae.shutdown()
            self.store.close()
            LOGGER.info("stopped")
        self._stopped.set()

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
