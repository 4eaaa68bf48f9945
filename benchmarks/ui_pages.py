"""Embedded UI at scale: every server-rendered page within 150 ms p95 with 100,000 dossiers.

Claim (issue 8): each page renders ≤ 150 ms p95 server-side with 100,000 dossiers.

What is measured is the real application (``gateway.app.create_app`` over PostgreSQL), called in-process through
Starlette's ``TestClient``: routing, the session cookie (a real server-side session per user, opened once before
timing by a benchmark-only route doing what a sign-in does), the services, the repositories and the Jinja
templates. The figure kept is the server-side time: a thin ASGI wrapper around the application stamps the call
from its start to the last body chunk sent; the client-side wall clock (TestClient's transport added) is reported
beside it.

Peers in the same run (the machine is shared and noisy, so every figure is also a ratio):
  * the limit: p95 / 150 ms per page (≤ 1 passes);
  * the JSON API over the same data and the same users (``/api/v1/tableau-de-bord/prescripteur``,
    ``/api/v1/dossiers/{id}``…): page p50 / API p50 is what the page adds on top of the same use case
    (navigation, viewer, template).

Data: the data set of ``benchmarks/dashboard.py`` (100,000 dossiers / 300,000 demandes in its own database
``aiguillage_bench``), built by its generator and loader; ``--reuse`` keeps it when it already holds that data set
(run ``dashboard.py`` first, or let this script load it: about half a minute). ``benchmarks/_ui_data.py`` adds
once what the pages read beyond it: each dossier's history (about a million events) and 50,000 received HL7
messages with their attempts. Dossiers, demandes and users are picked the way the dashboard benchmark picks its
personas (seeded).

Pages are discovered on the running application: a page of the list whose URL no route matches yet is skipped
with a note (the UI is written area by area), and a page that answers anything but 200 is reported as an error,
not timed. The list is ``PAGES`` below: add a page there when it lands.

    python benchmarks/ui_pages.py [--database-url URL] [--iterations 100] [--reuse] [--json-out PATH]

Exit code 0 whether the target is met or not; the verdicts are printed (PASS/FAIL) and written to the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `python benchmarks/ui_pages.py` from a checkout that is not installed: make the repository root importable (the
# data set comes from benchmarks/dashboard.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import Response
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from starlette.routing import Match

from benchmarks import _ui_data
from benchmarks import dashboard as data_set  # the 100k generator and loader
from gateway.app import create_app
from gateway.auth import sessions
from gateway.container import build_container
from gateway.logging import configure as configure_logging
from gateway.settings import Settings
from orientation_core.clock import FrozenClock
from orientation_core.persistence.migrate import upgrade

NAME = "ui_pages"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
TARGET_MS = 150.0
HTML = {"Accept": "text/html,application/xhtml+xml"}
JSON = {"Accept": "application/json"}


# ====================================================================================================================
# 1. Who and what: users and objects picked from the generated data
# ====================================================================================================================


@dataclass
class Cast:
    """Logins and ids the pages are called with, several of each so that caches do not flatter a page."""

    prescripteurs: list[tuple[str, list[int]]]  # (login, units)
    receveurs: list[tuple[str, list[int]]]
    liberaux: list[str]
    referents: list[tuple[str, int]]  # (login, établissement)
    admin: str
    dossiers: list[tuple[str, int]]  # (prescripteur login, open Sanitaire dossier of his units)
    dossiers_grand_age: list[tuple[str, int]]  # (prescripteur login, Grand Âge dossier of his units)
    demandes: list[tuple[str, int]]  # (receveur login, demande received by his units)
    users_of_etab: list[tuple[str, int]]  # (référent login, user id of his établissement)
    names: list[tuple[str, str]]  # (prescripteur login, a patient name typed in the search)
    numeros: list[tuple[str, str]]  # (prescripteur login, a dossier number typed in the search)
    receveur_names: list[tuple[str, str]]
    inbox_ids: list[int]


def cast(bench_url: str, seed: int, count: int) -> Cast:
    gen = data_set.read_back(bench_url)
    people = data_set.personas(bench_url, gen, seed, count)
    rng = random.Random(seed + 7)
    with psycopg.connect(data_set.libpq(bench_url)) as conn:
        login: dict[int, str] = {r[0]: r[1] for r in conn.execute("SELECT id, identifiant_national FROM utilisateur")}
        pres = [(login[p.user_id], p.unites) for p in people["prescripteur"]]
        recv = [(login[p.user_id], p.unites) for p in people["receveur"]]
        medical = {r[0] for r in conn.execute(
            "SELECT DISTINCT user_id FROM habilitation WHERE role = 'prescripteur_medical'")}
        dossiers: list[tuple[str, int]] = []
        grand_age: list[tuple[str, int]] = []
        for p in people["prescripteur"]:
            who, units = login[p.user_id], p.unites
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM dossier WHERE unite_id = ANY(%s) AND module = 'sanitaire' "
                "AND etat IN ('brouillon', 'envoye') ORDER BY id", (units,))]
            dossiers += [(who, i) for i in rng.sample(ids, min(4, len(ids)))]
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM dossier WHERE unite_id = ANY(%s) AND module = 'grand_age' "
                "AND etat IN ('brouillon', 'envoye') ORDER BY id", (units,))]
            if p.user_id in medical:  # the AGGIR grid sits in the médical volet
                grand_age += [(who, i) for i in rng.sample(ids, min(2, len(ids)))]
        demandes: list[tuple[str, int]] = []
        for who, units in recv:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM demande WHERE unite_id = ANY(%s) AND statut <> ALL(%s) ORDER BY id",
                (units, list(data_set.HIDDEN_FROM_RECEVEUR)))]
            demandes += [(who, i) for i in rng.sample(ids, min(4, len(ids)))]
        referents = [(login[u], e) for u, e in conn.execute(
            "SELECT user_id, etablissement_id FROM habilitation WHERE role = 'referent' ORDER BY id LIMIT %s",
            (count,))]
        users_of_etab: list[tuple[str, int]] = []
        for who, etab in referents:
            ids = [r[0] for r in conn.execute(
                "SELECT DISTINCT user_id FROM habilitation WHERE etablissement_id = %s AND role <> 'referent' "
                "ORDER BY 1", (etab,))]
            users_of_etab += [(who, i) for i in rng.sample(ids, min(2, len(ids)))]
        admin_id = conn.execute("SELECT min(id) FROM utilisateur WHERE administrateur").fetchone()
        inbox_ids = [r[0] for r in conn.execute("SELECT id FROM inbox_message ORDER BY id DESC LIMIT 20")]
    assert admin_id is not None and admin_id[0] is not None, "no administrator in the data set"
    by_id = {p.user_id: p for p in people["prescripteur"]}
    names = [(login[uid], n) for uid, p in by_id.items() for n in p.names[:4]]
    numeros = [(login[uid], n) for uid, p in by_id.items() for n in p.numeros[:4]]
    receveur_names = [(login[p.user_id], n) for p in people["receveur"] for n in p.names[:4]]
    return Cast(prescripteurs=pres, receveurs=recv, liberaux=[login[p.user_id] for p in people["liberal"]],
                referents=referents, admin=login[admin_id[0]], dossiers=dossiers, dossiers_grand_age=grand_age,
                demandes=demandes, users_of_etab=users_of_etab, names=names, numeros=numeros,
                receveur_names=receveur_names, inbox_ids=inbox_ids)


# ====================================================================================================================
# 2. The pages (and their JSON peers): each a list of (login, URL) rotated over the iterations
# ====================================================================================================================

Calls = list[tuple[str, str]]


@dataclass
class Page:
    name: str
    kind: str  # "page" | "export" (a file download: reported against the same limit, its own verdict) | "api"
    label: str
    calls: Callable[[Cast], Calls]
    peer: str | None = None  # the API entry measured beside this page


def _q(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _pres(c: Cast, query: str = "") -> Calls:
    return [(who, f"/tableau-de-bord{query}") for who, _ in c.prescripteurs]


PAGES: list[Page] = [
    # --- prescripteur dashboard ---
    Page("dashboard.en_cours", "page", "tableau de bord, demandes en cours, page 1", lambda c: _pres(c),
         peer="api.dashboard"),
    Page("dashboard.anticipees", "page", "section anticipées", lambda c: _pres(c, "?section=anticipees")),
    Page("dashboard.retour_domicile", "page", "section retour à domicile avant SSR",
         lambda c: _pres(c, "?section=retour_domicile")),
    Page("dashboard.patients_sortis", "page", "section patients sortis",
         lambda c: _pres(c, "?section=patients_sortis")),
    Page("dashboard.archivees", "page", "section archivées", lambda c: _pres(c, "?section=archivees")),
    Page("dashboard.annulees", "page", "section annulées", lambda c: _pres(c, "?section=annulees")),
    Page("dashboard.statut", "page", "en cours, filtre accord de principe",
         lambda c: _pres(c, "?statut=accord_de_principe")),
    Page("dashboard.recherche_nom", "page", "en cours, recherche par nom",
         lambda c: [(who, f"/tableau-de-bord?recherche={_q(n)}") for who, n in c.names],
         peer="api.dashboard_recherche"),
    Page("dashboard.recherche_numero", "page", "en cours, recherche par numéro",
         lambda c: [(who, f"/tableau-de-bord?recherche={_q(n)}") for who, n in c.numeros]),
    Page("dashboard.page5", "page", "en cours, page 5", lambda c: _pres(c, "?page=5")),
    Page("dashboard.export", "export", "export Excel de la vue (section en cours)",
         lambda c: [(who, "/tableau-de-bord/export.xlsx") for who, _ in c.prescripteurs]),
    Page("dashboard.lignes", "page", "fragment de rafraîchissement des lignes",
         lambda c: [(who, "/tableau-de-bord/lignes") for who, _ in c.prescripteurs]),
    # --- dossier ---
    Page("dossier", "page", "page du dossier", lambda c: [(w, f"/dossiers/{i}") for w, i in c.dossiers],
         peer="api.dossier"),
    Page("dossier.historique", "page", "historique du dossier",
         lambda c: [(w, f"/dossiers/{i}/historique") for w, i in c.dossiers], peer="api.historique"),
    Page("dossier.impression", "page", "vue d'impression",
         lambda c: [(w, f"/dossiers/{i}/impression") for w, i in c.dossiers]),
    Page("dossier.volet", "page", "formulaire du volet administratif et social",
         lambda c: [(w, f"/dossiers/{i}/volets/administratif_social") for w, i in c.dossiers]),
    # --- sending ---
    Page("envoi", "page", "envoi : suggestions et demandes du dossier",
         lambda c: [(w, f"/dossiers/{i}/envoi") for w, i in c.dossiers]),
    Page("envoi.recherche", "page", "envoi : recherche SMR autour d'un code postal",
         lambda c: [(w, f"/dossiers/{i}/envoi?type=smr&code_postal=69003&rayon=50") for w, i in c.dossiers]),
    # --- receveur ---
    Page("receveur", "page", "demandes reçues, page 1",
         lambda c: [(who, "/receveur") for who, _ in c.receveurs], peer="api.receveur"),
    Page("receveur.en_attente", "page", "demandes reçues, filtre en attente",
         lambda c: [(who, "/receveur?statut=en_attente") for who, _ in c.receveurs]),
    Page("receveur.recherche", "page", "demandes reçues, recherche par nom",
         lambda c: [(who, f"/receveur?recherche={_q(n)}") for who, n in c.receveur_names]),
    Page("receveur.lignes", "page", "fragment de rafraîchissement des demandes reçues",
         lambda c: [(who, "/receveur/lignes") for who, _ in c.receveurs]),
    Page("receveur.demande", "page", "une demande reçue (lecture du dossier)",
         lambda c: [(w, f"/receveur/demandes/{i}") for w, i in c.demandes], peer="api.demande"),
    # --- Grand Âge ---
    Page("aggir", "page", "grille AGGIR d'un dossier Grand Âge",
         lambda c: [(w, f"/dossiers/{i}/aggir") for w, i in c.dossiers_grand_age]),
    # --- médecin libéral, account ---
    Page("liberal", "page", "espace médecin libéral", lambda c: [(w, "/liberal") for w in c.liberaux],
         peer="api.liberal"),
    Page("compte", "page", "mon compte", lambda c: [(w, "/compte") for w, _ in c.prescripteurs],
         peer="api.compte"),
    Page("compte.delegations", "page", "délégations", lambda c: [(w, "/compte/delegations") for w in c.liberaux]),
    # --- administration, operator ---
    Page("admin", "page", "administration (référent)", lambda c: [(w, "/admin") for w, _ in c.referents]),
    Page("admin.unites", "page", "unités", lambda c: [(w, "/admin/unites") for w, _ in c.referents]),
    Page("admin.utilisateurs", "page", "utilisateurs de l'établissement",
         lambda c: [(w, "/admin/utilisateurs") for w, _ in c.referents], peer="api.comptes"),
    Page("admin.utilisateur", "page", "un utilisateur",
         lambda c: [(w, f"/admin/utilisateurs/{i}") for w, i in c.users_of_etab]),
    Page("admin.habilitations", "page", "habilitations", lambda c: [(w, "/admin/habilitations") for w, _ in c.referents]),
    Page("admin.clients_dpi", "page", "clients DPI (administrateur)", lambda c: [(c.admin, "/admin/clients-dpi")]),
    Page("exploitation.messages", "page", "messages reçus (opérateur)",
         lambda c: [(c.admin, "/exploitation/messages")], peer="api.messages"),
    Page("exploitation.message", "page", "un message reçu",
         lambda c: [(c.admin, f"/exploitation/messages/{i}") for i in c.inbox_ids]),
    Page("exploitation.lettres_mortes", "page", "lettres mortes", lambda c: [(c.admin, "/exploitation/lettres-mortes")]),
    # --- the JSON API over the same data: the peers ---
    Page("api.dashboard", "api", "API tableau de bord prescripteur",
         lambda c: [(who, "/api/v1/tableau-de-bord/prescripteur") for who, _ in c.prescripteurs]),
    Page("api.dashboard_recherche", "api", "API tableau de bord, recherche par nom",
         lambda c: [(w, f"/api/v1/tableau-de-bord/prescripteur?recherche={_q(n)}") for w, n in c.names]),
    Page("api.dossier", "api", "API dossier", lambda c: [(w, f"/api/v1/dossiers/{i}") for w, i in c.dossiers]),
    Page("api.historique", "api", "API historique",
         lambda c: [(w, f"/api/v1/dossiers/{i}/historique") for w, i in c.dossiers]),
    Page("api.receveur", "api", "API demandes reçues",
         lambda c: [(who, "/api/v1/tableau-de-bord/receveur") for who, _ in c.receveurs]),
    Page("api.demande", "api", "API demande", lambda c: [(w, f"/api/v1/demandes/{i}") for w, i in c.demandes]),
    Page("api.liberal", "api", "API espace libéral", lambda c: [(w, "/api/v1/liberal") for w in c.liberaux]),
    Page("api.compte", "api", "API mon compte", lambda c: [(w, "/api/v1/compte") for w, _ in c.prescripteurs]),
    Page("api.comptes", "api", "API comptes de l'établissement",
         lambda c: [(w, f"/api/v1/etablissements/{e}/comptes") for w, e in c.referents]),
    Page("api.messages", "api", "API messages entrants", lambda c: [(c.admin, "/api/v1/messages")]),
]


# ====================================================================================================================
# 3. Timing
# ====================================================================================================================


class ServerClock:
    """ASGI wrapper: the time from the application's call to its last body chunk (server-side, no transport)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_ms = (time.perf_counter() - t0) * 1000

        await self.app(scope, receive, timed_send)


def route_exists(app: Any, path: str) -> bool:
    scope = {"type": "http", "method": "GET", "path": path.split("?")[0], "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in app.routes
               if getattr(route, "path", "") not in ("/static",))


def quantiles(samples: Sequence[float]) -> dict[str, Any]:
    return data_set.quantiles(samples)


def add_bench_sign_in(app: Any) -> None:
    """``GET /bench/connexion/{login}``: opens a session as a sign-in does (this benchmark's app only)."""
    container = app.state.container

    def bench_sign_in(login: str, request: Request) -> Response:
        with container.uow() as uow:
            user = uow.users.by_login(login)
            assert user is not None and user.id is not None, login
        response = Response(status_code=204)
        sessions.open_session(container, response, user.id, method="bench", request=request)
        return response

    app.add_api_route("/bench/connexion/{login}", bench_sign_in, methods=["GET"], include_in_schema=False)


class Sessions:
    """One session cookie per login, opened on first use; sent as the browser would."""

    def __init__(self, client: TestClient, cookie_name: str) -> None:
        self.client = client
        self.cookie_name = cookie_name
        self.tokens: dict[str, str] = {}

    def headers(self, login: str, kind: str) -> dict[str, str]:
        if login not in self.tokens:
            r = self.client.get(f"/bench/connexion/{login}")
            assert r.status_code == 204, (login, r.status_code, r.text[:200])
            self.tokens[login] = r.cookies[self.cookie_name]
            self.client.cookies.clear()
        return {**(JSON if kind == "api" else HTML), "Cookie": f"{self.cookie_name}={self.tokens[login]}"}


def run(app: Any, cast_: Cast, pages: list[Page], iterations: int, warmup: int
        ) -> tuple[dict[str, dict[str, list[float]]], dict[str, Any]]:
    clock = ServerClock(app)
    client = TestClient(clock, raise_server_exceptions=False)
    signed = Sessions(client, app.state.container.settings.session_cookie_name)
    skipped: dict[str, Any] = {}
    live: list[tuple[Page, Calls]] = []
    for page in pages:
        calls = page.calls(cast_)
        if not calls:
            skipped[page.name] = {"reason": "no data to call it with"}
            continue
        if not route_exists(app, calls[0][1]):
            skipped[page.name] = {"reason": "no route yet", "url": calls[0][1]}
            continue
        bad = []
        tried = calls[: max(warmup, 1)] + calls
        for who, url in tried:  # warm-up, and every call must answer 200
            r = client.get(url, headers=signed.headers(who, page.kind), follow_redirects=False)
            if r.status_code != 200:
                bad.append({"url": url, "status": r.status_code, "body": r.text[:300]})
        if bad:
            skipped[page.name] = {"reason": f"{len(bad)} of {len(tried)} calls did not answer 200",
                                  "first": bad[0]}
            continue
        live.append((page, calls))
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"server": [], "client": []})
    gc.collect()
    for i in range(iterations):  # round-robin over the pages: the noise spreads evenly
        for page, calls in live:
            who, url = calls[i % len(calls)]
            headers = signed.headers(who, page.kind)
            t0 = time.perf_counter()
            r = client.get(url, headers=headers, follow_redirects=False)
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                raise RuntimeError(f"{page.name}: {url} answered {r.status_code} during the timed run")
            samples[page.name]["server"].append(clock.last_ms)
            samples[page.name]["client"].append(elapsed)
    return samples, skipped


# ====================================================================================================================
# 4. Report
# ====================================================================================================================


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def summarize(samples: dict[str, dict[str, list[float]]], pages: list[Page], target: float) -> dict[str, Any]:
    by_name = {p.name: p for p in pages}
    out: dict[str, Any] = {}
    for name, s in samples.items():
        page = by_name[name]
        q = quantiles(s["server"])
        q["client_p95_ms"] = quantiles(s["client"])["p95_ms"]
        q["ratio_p95_to_limit"] = round(q["p95_ms"] / target, 3)
        q["pass"] = q["p95_ms"] <= target
        q["kind"] = page.kind
        q["label"] = page.label
        if page.peer and page.peer in samples:
            peer = quantiles(samples[page.peer]["server"])
            q["peer"] = page.peer
            q["peer_p50_ms"] = peer["p50_ms"]
            q["ratio_p50_to_peer"] = round(q["p50_ms"] / peer["p50_ms"], 2) if peer["p50_ms"] else None
        out[name] = q
    return out


def report(result: dict[str, Any]) -> None:
    target = result["limit"]["ms"]
    data = result["data"]["counts"]
    print()
    env = result["environment"]
    print(f"UI pages on PostgreSQL {env.get('postgresql', '?')}: {data.get('dossier', 0):,} dossiers, "
          f"{data.get('demande', 0):,} demandes, {data.get('history_event', 0):,} history events, "
          f"{data.get('inbox_message', 0):,} received messages; {result['parameters']['iterations']} timed calls "
          f"per page; limit p95 ≤ {target:g} ms server-side")
    if env.get("load_average_before") and env.get("load_average"):
        print(f"load average (1 min) on {env['cpu_count']} CPUs: {env['load_average_before'][0]:.1f} before, "
              f"{env['load_average'][0]:.1f} after")
    head = (f"{'page':<30}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'p95/lim':>9}  {'verdict':<8}"
            f"{'client p95':>11}  {'API peer':<24}{'page/API p50':>13}")
    print(head)
    print("-" * len(head))
    for kind in ("page", "export", "api"):
        for name, q in result["results"].items():
            if q["kind"] != kind:
                continue
            peer = (f"{q['peer']:<24}{q['ratio_p50_to_peer']:>12.2f}x" if q.get("ratio_p50_to_peer")
                    else f"{'':<24}{'':>13}")
            print(f"{name:<30}{q['p50_ms']:>9.2f}{q['p95_ms']:>9.2f}{q['max_ms']:>9.2f}{q['ratio_p95_to_limit']:>9.3f}"
                  f"  {'(peer)' if kind == 'api' else verdict(q['pass']):<8}{q['client_p95_ms']:>11.2f}  {peer}")
        print("-" * len(head))
    for name, why in result["skipped"].items():
        print(f"skipped {name}: {why['reason']}" + (f" ({why.get('url') or why.get('first', {}).get('url')}"
                                                    f"{' → ' + str(why['first']['status']) if 'first' in why else ''})"
                                                    if why.get("url") or why.get("first") else ""))
    v = result["verdict"]
    print(f"TARGET every page p95 ≤ {target:g} ms: {v['pages']} ({v['pages_measured']} pages measured, "
          f"{v['pages_skipped']} skipped)   Excel export (a download, same limit): {v['export']}")


def environment(engine: sa.Engine) -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpu_count": os.cpu_count(), "sqlalchemy": sa.__version__, "psycopg": psycopg.__version__}
    with engine.connect() as conn:
        info["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar_one()
    with contextlib.suppress(OSError):
        info["load_average"] = os.getloadavg()
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("AIGUILLAGE_BENCH_DATABASE_URL")
                        or data_set.DEFAULT_URL, help="server to use (its database only creates the bench database)")
    parser.add_argument("--bench-database", default=data_set.BENCH_DATABASE)
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--demandes-per-dossier", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--iterations", type=int, default=100, help="timed calls per page")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per page first")
    parser.add_argument("--personas", type=int, default=12, help="users rotated per role")
    parser.add_argument("--target-ms", type=float, default=TARGET_MS)
    parser.add_argument("--only", default="", help="comma-separated page names (prefixes) to run")
    parser.add_argument("--reuse", action="store_true", help="keep the bench database if it holds this data set")
    parser.add_argument("--json-out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    admin_url, bench_url = data_set.bench_urls(args.database_url, args.bench_database)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    must_load = data_set.prepare_database(args, admin_url, args.bench_database)
    upgrade(bench_url)
    if must_load:
        print(f"loading {args.dossiers:,} dossiers into "
              f"{make_url(bench_url).render_as_string(hide_password=True)} (benchmarks/dashboard.py's data set) …",
              flush=True)
        phases = data_set.load(bench_url, data_set.DataSet(args.dossiers, args.demandes_per_dossier, args.seed))
        data_set.mark_complete(args, admin_url, args.bench_database)
        print(f"loaded in {phases['total_s']:.1f} s", flush=True)
    with psycopg.connect(data_set.libpq(bench_url), autocommit=True) as conn:
        added = _ui_data.ensure(conn, data_set.NOW, args.seed)
    if added:
        print(f"added what the pages read beyond the dashboard data set: {added}", flush=True)
    who = cast(bench_url, args.seed, args.personas)
    counts = data_set.read_back(bench_url).counts
    with psycopg.connect(data_set.libpq(bench_url)) as conn:
        for table in ("history_event", "inbox_message", "inbox_attempt"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table] = int(row[0]) if row else 0
    setup_s = time.perf_counter() - t0

    configure_logging("WARNING", json=False)  # one line per opened session is noise here
    settings = Settings(database_url=bench_url, profile="demo")
    container = build_container(settings, clock=FrozenClock(data_set.NOW), queue="sync")
    app = create_app(container=container)  # no lifespan: no background task touches the data while timing
    add_bench_sign_in(app)
    pages = [p for p in PAGES if not args.only or any(p.name.startswith(o) for o in args.only.split(","))]
    print(f"timing {len(pages)} pages and API peers × {args.iterations} calls …", flush=True)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    samples, skipped = run(app, who, pages, args.iterations, args.warmup)
    results = summarize(samples, pages, args.target_ms)
    measured = [q for q in results.values() if q["kind"] == "page"]
    result: dict[str, Any] = {
        "benchmark": NAME,
        "claim": "every embedded UI page renders within 150 ms p95 server-side with 100,000 dossiers",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_at": started.isoformat(),
        "environment": {**environment(container.engine), "load_average_before": load_before},
        "data": {"database": args.bench_database, "reused": not must_load, "seed": args.seed, "counts": counts,
                 "added_for_the_pages": added,
                 "setup_s": round(setup_s, 2), "benchmark_now": data_set.NOW.isoformat()},
        "parameters": {"iterations": args.iterations, "warmup": args.warmup, "personas": args.personas,
                       "transport": "Starlette TestClient in-process, session cookie; server time stamped by an "
                                    "ASGI wrapper"},
        "limit": {"name": "p95 target, server-side", "ms": args.target_ms},
        "results": results,
        "skipped": skipped,
        "verdict": {"pages": verdict(bool(measured) and all(q["pass"] for q in measured)),
                    "pages_measured": len(measured),
                    "pages_skipped": sum(1 for p in pages if p.kind == "page" and p.name in skipped),
                    "export": verdict(all(q["pass"] for q in results.values() if q["kind"] == "export"))
                    if any(q["kind"] == "export" for q in results.values()) else "not measured"},
    }
    container.engine.dispose()
    report(result)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"JSON: {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
