"""Mutual TLS with an organisation certificate (configurable paths), against the simulator serving HTTPS on
loopback. Certificates are made for the test with the openssl command line."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ins.client import InsiClient, InsiConfig, tls_context
from ins.errors import InsiTransportError
from ins.simulator import REQUESTS, InsiSimulator, TlsFiles
from orientation_core.identite.model import CodeCR, TraitsIdentite

ADRUN = TraitsIdentite("ADRUN", ("ZOE",), "F", dt.date(1975, 12, 31))


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=Test INSi CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=INSI-AUTO/O=Etablissement de test")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", subject, cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_sim(pki: Path) -> Iterator[InsiSimulator]:
    with InsiSimulator(tls=TlsFiles(pki / "server.pem", pki / "server.key", pki / "ca.pem")) as sim:
        yield sim


def test_organisation_certificate_is_presented_and_checked(pki: Path, tls_sim: InsiSimulator) -> None:
    config = InsiConfig(tls_sim.url, cert_path=pki / "client.pem", key_path=pki / "client.key",
                        ca_path=pki / "ca.pem")
    assert tls_sim.url.startswith("https://")
    with InsiClient(config) as client:
        assert client.rechercher(ADRUN).cr is CodeCR.TROUVE
    seen = httpx.get(tls_sim.url.rsplit("/", 1)[0] + REQUESTS, verify=tls_context(config)).json()
    assert seen[-1]["client_cn"] == "INSI-AUTO"


def test_without_organisation_certificate_the_handshake_fails(pki: Path, tls_sim: InsiSimulator) -> None:
    with InsiClient(InsiConfig(tls_sim.url, ca_path=pki / "ca.pem", max_retries=0)) as client, \
            pytest.raises(InsiTransportError):
        client.rechercher_traits(ADRUN)


def test_server_not_signed_by_the_configured_ca_is_refused(pki: Path, tls_sim: InsiSimulator) -> None:
    config = InsiConfig(tls_sim.url, cert_path=pki / "client.pem", key_path=pki / "client.key", max_retries=0)
    with InsiClient(config) as client, pytest.raises(InsiTransportError):
        client.rechercher_traits(ADRUN)  # system trust store: the test CA is unknown
