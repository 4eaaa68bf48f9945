"""TLS contexts for the listener (server certificate, optional client-certificate check) and for senders."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert: Path | str, key: Path | str, *, ca: Path | str | None = None,
                   require_client_cert: bool = False) -> ssl.SSLContext:
    """TLS ≥ 1.2. With ``require_client_cert`` the sender must present a certificate signed by ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    if ca is not None:
        context.load_verify_locations(str(ca))
    if require_client_cert:
        if ca is None:
            raise ValueError("a client-certificate check needs the CA that signs client certificates")
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(*, ca: Path | str | None = None, cert: Path | str | None = None, key: Path | str | None = None,
                   check_hostname: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context
