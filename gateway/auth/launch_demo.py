"""The demo DPI: signs a launch with the demo client's TEST-ONLY key (samples/demo), for ``make run``'s link,
the demo page ``GET /demo/bouton-dpi`` (demo profile only) and samples/dpi_simulator.py.

Never used outside the demo profile: the key is public in the repository.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

DEMO_CLIENT_ID = "dpi-demo-saint-exupery"
DEMO_KEY_FILE = Path("demo") / "dpi_demo_cle_privee_TEST_UNIQUEMENT.jwk.json"
DEMO_USER = "810100000017"  # Dr Claire Martin, prescripteur médical on UF 1101 and 1103 (demo.json)
DEMO_PATIENT = {"ipp": "100003", "finess": "690001011"}  # Bernard Dubois (demo.json), IPP of Saint-Exupéry


def load_key(samples_dir: Path) -> ECKey | RSAKey:
    doc = json.loads((samples_dir / DEMO_KEY_FILE).read_text(encoding="utf-8"))
    fields = {k: v for k, v in doc.items() if not k.startswith("_")}
    return ECKey.import_key(fields) if fields.get("kty") == "EC" else RSAKey.import_key(fields)


def launch_claims(base_url: str, *, user: str = DEMO_USER, patient: dict[str, Any] | None = None,
                  module: str = "sanitaire", orientation: str = "SMR", lifetime: int = 300,
                  now: float | None = None, client_id: str = DEMO_CLIENT_ID) -> dict[str, Any]:
    issued = int(now if now is not None else time.time())
    return {"iss": client_id, "aud": base_url.rstrip("/"), "iat": issued, "exp": issued + lifetime,
            "jti": uuid.uuid4().hex, "sub": user, "module": module, "patient": patient or dict(DEMO_PATIENT),
            "orientation": orientation}


def sign(key: ECKey | RSAKey, claims: dict[str, Any]) -> str:
    alg = "ES256" if isinstance(key, ECKey) else "RS256"
    return jwt.encode({"alg": alg, "kid": str(key.kid), "typ": "JWT"}, claims, key)


def launch_url(base_url: str, samples_dir: Path, **kw: Any) -> str:
    """A signed launch URL valid 5 minutes (the JWT's limit)."""
    token = sign(load_key(samples_dir), launch_claims(base_url, **kw))
    return f"{base_url.rstrip('/')}/demande-admission?{urlencode({'launch': token})}"


def client_assertion(base_url: str, samples_dir: Path, *, now: float | None = None) -> str:
    """``private_key_jwt`` client assertion for POST /oauth/token."""
    issued = int(now if now is not None else time.time())
    base = base_url.rstrip("/")
    return sign(load_key(samples_dir), {"iss": DEMO_CLIENT_ID, "sub": DEMO_CLIENT_ID, "aud": f"{base}/oauth/token",
                                        "iat": issued, "exp": issued + 60, "jti": uuid.uuid4().hex})
