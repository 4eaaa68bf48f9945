"""MLLP over TLS on a loopback socket: server certificate, and the optional client-certificate check.

A throwaway CA, server and client certificates are made with the ``openssl`` command for the session."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hl7_listeners.client import MllpClient, MllpError, ack_summary
from hl7_listeners.tls import client_context, server_context

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl command not installed")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Aiguillage test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
            f"extendedKeyUsage={usage}\nauthorityKeyIdentifier=keyid\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


def test_tls_listener_stores_and_acknowledges(store_url: str, listener: Any, adt: Any, inbox_rows: Any,
                                              pki: Path) -> None:
    running = listener(store_url, ssl_context=server_context(pki / "server.pem", pki / "server.key"))
    context = client_context(ca=pki / "ca.pem")
    with MllpClient("127.0.0.1", running.port, ssl_context=context, timeout=5).connect() as client:
        assert ack_summary(client.send(adt("TLS1").encode("latin-1")))[:2] == ("AA", "TLS1")
    plain = MllpClient("127.0.0.1", running.port, timeout=2).connect()
    with plain, pytest.raises((MllpError, OSError)):  # a plain-text sender gets no ACK from a TLS port
        plain.send(adt("PLAIN").encode("latin-1"))
    assert [r["control_id"] for r in inbox_rows(store_url)] == ["TLS1"]


def test_client_certificate_is_required_when_configured(sqlite_url: str, listener: Any, adt: Any, inbox_rows: Any,
                                                        pki: Path) -> None:
    context = server_context(pki / "server.pem", pki / "server.key", ca=pki / "ca.pem", require_client_cert=True)
    running = listener(sqlite_url, ssl_context=context)
    anonymous = client_context(ca=pki / "ca.pem")
    with pytest.raises((ssl.SSLError, MllpError, OSError)):  # TLS 1.3: the refusal shows at the first read
        client = MllpClient("127.0.0.1", running.port, ssl_context=anonymous, timeout=5).connect()
        with client:
            client.send(adt("ANON").encode("latin-1"))
    known = client_context(ca=pki / "ca.pem", cert=pki / "client.pem", key=pki / "client.key")
    with MllpClient("127.0.0.1", running.port, ssl_context=known, timeout=5).connect() as client:
        assert ack_summary(client.send(adt("CERT1").encode("latin-1")))[:2] == ("AA", "CERT1")
    assert [r["control_id"] for r in inbox_rows(sqlite_url)] == ["CERT1"]


def test_client_check_needs_a_ca(pki: Path) -> None:
    with pytest.raises(ValueError, match="CA"):
        server_context(pki / "server.pem", pki / "server.key", require_client_cert=True)
