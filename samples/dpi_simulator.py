"""DPI simulator: the "Demande d'admission ViaTrajectoire" button of a hospital record system, for the demo.

It signs a launch for a demo patient with the demo DPI client's TEST-ONLY key
(samples/demo/dpi_demo_cle_privee_TEST_UNIQUEMENT.jwk.json, registered as client "dpi-demo-saint-exupery" by the
demo data set) and prints the URL, or opens it in the browser. With --serveur-a-serveur it plays the other
integration: OAuth2 client credentials with private_key_jwt on /oauth/token, then POST /api/v1/launches with a
FHIR Bundle (samples/fhir/bundle-transaction-sanitaire.json), and prints the one-time URL (valid 2 minutes).

    .venv/bin/python samples/dpi_simulator.py                      # print a browser launch URL (valid 5 min)
    .venv/bin/python samples/dpi_simulator.py --ouvrir             # open it in the browser
    .venv/bin/python samples/dpi_simulator.py --ipp 100001 --module grand_age
    .venv/bin/python samples/dpi_simulator.py --serveur-a-serveur  # token + FHIR Bundle → one-time URL
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent
sys.path.insert(0, str(SAMPLES.parent))  # run from a checkout without installing

from gateway.auth import launch_demo  # noqa: E402

BUNDLE = SAMPLES / "fhir" / "bundle-transaction-sanitaire.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulateur du bouton « Demande d'admission » d'un DPI (démo).")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="adresse d'Aiguillage (défaut %(default)s)")
    parser.add_argument("--utilisateur", default=launch_demo.DEMO_USER,
                        help="identifiant national du prescripteur (défaut : Dr Claire Martin)")
    parser.add_argument("--ipp", default=launch_demo.DEMO_PATIENT["ipp"], help="IPP du patient (défaut %(default)s)")
    parser.add_argument("--finess", default=launch_demo.DEMO_PATIENT["finess"])
    parser.add_argument("--module", choices=["sanitaire", "grand_age"], default="sanitaire")
    parser.add_argument("--orientation", default="SMR")
    parser.add_argument("--ouvrir", action="store_true", help="ouvrir le lien dans le navigateur")
    parser.add_argument("--serveur-a-serveur", action="store_true",
                        help="jeton OAuth2 (private_key_jwt) puis POST /api/v1/launches avec un Bundle FHIR")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    if args.serveur_a_serveur:
        import httpx

        assertion = launch_demo.client_assertion(base, SAMPLES)
        token = httpx.post(f"{base}/oauth/token", data={
            "grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, timeout=10)
        if token.status_code != 200:
            print(f"Jeton refusé ({token.status_code}) : {token.text}", file=sys.stderr)
            return 1
        answer = httpx.post(f"{base}/api/v1/launches", content=BUNDLE.read_bytes(), timeout=30, headers={
            "Authorization": f"Bearer {token.json()['access_token']}", "Content-Type": "application/fhir+json"})
        if answer.status_code != 201:
            print(f"Lancement refusé ({answer.status_code}) : {answer.text}", file=sys.stderr)
            return 1
        url = str(answer.json()["url"])
        print(f"Lien à usage unique (2 minutes) :\n{url}")
    else:
        url = launch_demo.launch_url(base, SAMPLES, user=args.utilisateur, module=args.module,
                                     orientation=args.orientation, patient={"ipp": args.ipp, "finess": args.finess})
        print(f"Lien de lancement signé par le DPI de démonstration (valable 5 minutes) :\n{url}")
    if args.ouvrir:
        webbrowser.open(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
