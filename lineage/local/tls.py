"""A throwaway certificate authority for the local servers.

The product's HTTP clients only send bearer tokens over HTTPS (azure-core's ``BearerTokenCredentialPolicy`` refuses
plain HTTP), so the local servers speak TLS with a CA generated per run, and clients trust it through
``REQUESTS_CA_BUNDLE`` exactly as they would trust a corporate CA.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class LocalTLS:
    """A CA bundle for clients and the matching server certificate chain."""

    ca_bundle: Path
    _server_pem: Path

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for a server bound to localhost / 127.0.0.1."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self._server_pem))
        return ctx


def make_local_tls(directory: Path) -> LocalTLS:
    """Generate a CA and a localhost certificate under ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(*HOSTS)
    ca_bundle = directory / "local-ca.pem"
    server_pem = directory / "local-server.pem"
    ca.cert_pem.write_to_path(str(ca_bundle))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return LocalTLS(ca_bundle=ca_bundle, _server_pem=server_pem)
