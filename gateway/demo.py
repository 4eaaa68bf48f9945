"""Loads ``samples/demo/demo.json``: établissements, people, patients and dossiers at every status.

Days in the file are relative to the load date, so the timers (relances, cancellation, archival) show at once:
the loader replays each dossier's story with a frozen clock, then runs the timer sweep at the real time.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from gateway.container import Container
from orientation_core.auth.model import DpiClient, TrustLevel
from orientation_core.clock import FrozenClock
from orientation_core.demande import service as demandes
from orientation_core.directory import service as directory
from orientation_core.directory.model import Etablissement, Secteur, TypeUnite, Unite
from orientation_core.dossier import service as dossiers
from orientation_core.dossier.model import Dossier
from orientation_core.dossier.volets import VOLETS, Module
from orientation_core.patients import service as patients
from orientation_core.patients.model import Patient, Sexe, TypeIdentifiantPatient
from orientation_core.people import service as people
from orientation_core.people.model import Role, TypeDelegation, User
from orientation_core.people.policy import Action
from orientation_core.persistence.uow import SqlUnitOfWork
from orientation_core.ports import Env
from orientation_core.sweep import sweep

# What a complete dossier says where the demo file does not say otherwise.
DEFAULTS: dict[Module, dict[str, Any]] = {
    Module.SANITAIRE: {
        "accord_patient": True, "criteres": ["reeducation"],
        "soins_infirmiers": "Pansements quotidiens, surveillance des constantes",
        "dependance": "Aide partielle pour la toilette et l'habillage",
        "projet": "Retour à domicile avec aides", "type_logement": "Appartement, ascenseur",
        "verifiees": True,
    },
    Module.GRAND_AGE: {"verifiees": True},
}


class DemoLoader:
    def __init__(self, container: Container, data: dict[str, Any]) -> None:
        self.container = container
        self.data = data
        self.now = container.env.clock.now().replace(microsecond=0)
        self.clock = FrozenClock(self.now)
        self.env = Env(self.clock, container.env.timers)
        self.etabs: dict[str, int] = {}
        self.unites: dict[str, Unite] = {}
        self.users: dict[str, int] = {}
        self.patients: dict[str, Patient] = {}

    def at(self, jour: float, step: int = 0) -> None:
        self.clock.set(self.now + dt.timedelta(days=jour, minutes=step))

    def load(self) -> str:
        with self.container.uow() as uow:
            first = self.data["etablissements"][0]["finess"]
            if uow.directory.etablissement_by_finess(first) is not None:
                return "Données de démonstration déjà chargées."
            self.at(-400)
            self._people_and_directory(uow)
            for i, spec in enumerate(self.data["dossiers"]):
                self._dossier(uow, spec, i)
        with self.container.uow() as uow:
            report = sweep(uow, self.container.env)
            # The demo's history is made up: its notifications are shown in-app, never e-mailed to anybody
            # (those already dispatched during the load queued their alerts: withdrawn, marked so).
            for message in uow.outbox.pending(10_000):
                message.payload = {**message.payload, "alerte_email": False}
            for mail in uow.outbox.pending(10_000, mail=True):
                mail.payload = {**mail.payload, "retire": "historique de démonstration"}
                mail.dispatched_at = self.container.env.clock.now()
        return (f"Démo chargée : {len(self.etabs)} établissements, {len(self.unites)} unités, {len(self.users)} "
                f"utilisateurs, {len(self.patients)} patients, {len(self.data['dossiers'])} dossiers ; "
                f"balayage des délais : {report.total} action(s).")

    def _people_and_directory(self, uow: SqlUnitOfWork) -> None:
        admin_spec = next(u for u in self.data["utilisateurs"] if u.get("administrateur"))
        admin = User(nom=admin_spec["nom"], prenom=admin_spec["prenom"], email=admin_spec["email"],
                     identifiant_local=admin_spec["login"], administrateur=True)
        people.create_user(uow, self.env, None, admin)
        assert admin.id is not None
        self.users[admin_spec["login"]] = admin.id
        for e in self.data["etablissements"]:
            etab = directory.create_etablissement(uow, self.env, admin.id, Etablissement(
                finess=e["finess"], nom=e["nom"], secteur=Secteur(e["secteur"]), adresse=e.get("adresse", ""),
                code_postal=e.get("code_postal"), ville=e.get("ville", "")))
            assert etab.id is not None
            self.etabs[e["finess"]] = etab.id
            for u in e["unites"]:
                fields = {k: v for k, v in u.items() if k != "type"}
                self.unites[u["code_uf"]] = directory.create_unite(
                    uow, self.env, admin.id, Unite(etablissement_id=etab.id, type=TypeUnite(u["type"]), **fields))
        for spec in self.data["utilisateurs"]:
            if spec.get("administrateur"):
                continue
            login = spec["login"]
            national = login if login[0] in "08" and login.isdigit() else None
            user = User(nom=spec["nom"], prenom=spec["prenom"], email=spec["email"], identifiant_national=national,
                        identifiant_local=None if national else login, profession=spec.get("profession", ""),
                        specialite=spec.get("specialite", ""), forme_ins=spec.get("forme_ins", False),
                        code_postal=spec.get("code_postal"), ville=spec.get("ville", ""))
            people.create_user(uow, self.env, admin.id, user)
            assert user.id is not None
            self.users[login] = user.id
            for h in spec.get("habilitations", []):
                if "uf" in h:
                    unite = self.unites[h["uf"]]
                    people.grant(uow, self.env, admin.id, user.id, Role(h["role"]), unite.etablissement_id,
                                 unite.id)
                else:
                    people.grant(uow, self.env, admin.id, user.id, Role(h["role"]), self.etabs[h["finess"]])
        for d in self.data.get("delegations", []):
            delegation = people.delegate(
                uow, self.env, self.users[d["delegant"]], self.users[d["delegataire"]], TypeDelegation(d["type"]),
                self.now + dt.timedelta(days=d["debut"]), self.now + dt.timedelta(days=d["fin"]),
                [Action(a) for a in d.get("droits", [])])
            if d.get("acceptee"):
                assert delegation.id is not None
                people.accept_delegation(uow, self.env, self.users[d["delegataire"]], delegation.id)
        password = self.data.get("mot_de_passe_demo")
        if password:  # identifier + password + e-mailed code for every demo account (README); charter accepted
            from gateway.auth.otp import HASHER
            from orientation_core.people.accounts import CHARTE_VERSION, Compte

            for user_id in self.users.values():
                uow.accounts.add(Compte(user_id=user_id, password_hash=HASHER.hash(password), created_at=self.now,
                                        charte_acceptee_at=self.now, charte_version=CHARTE_VERSION))
        for client in self.data.get("clients_dpi", []):  # DPI launch (gateway/auth/clients.py)
            uow.auth.add_client(DpiClient(
                client_id=client["client_id"], nom=client["nom"],
                etablissement_ids=[self.etabs[f] for f in client["etablissements"]],
                modules=[Module(m) for m in client["modules"]], trust=TrustLevel(client["confiance"]),
                jwks=client.get("jwks"), jwks_url=client.get("jwks_url", ""), created_at=self.now))
        for p in self.data["patients"]:
            patient = Patient(nom_naissance=p["nom_naissance"], prenoms=p["prenoms"],
                              date_naissance=dt.date.fromisoformat(p["date_naissance"]), sexe=Sexe(p["sexe"]),
                              nom_utilise=p.get("nom_utilise", ""), adresse=p.get("adresse", ""),
                              code_postal=p.get("code_postal", ""), ville=p.get("ville", ""),
                              telephone=p.get("telephone", ""))
            finess = self.data["etablissements"][0]["finess"]
            self.patients[p["ref"]] = patients.register(
                uow, self.env, patient, [(TypeIdentifiantPatient.IPP, p["ipp"], finess)])

    def _fill(self, uow: SqlUnitOfWork, dossier: Dossier, author: int, values: dict[str, Any]) -> None:
        assert dossier.id is not None
        for volet in VOLETS[dossier.module]:
            part = {k: v for k, v in values.items() if k in volet.fields}
            if part:
                dossiers.modifier_volet(uow, self.env, author, dossier.id, volet.name, part)

    def _complete_values(self, dossier: Dossier, clinique: dict[str, Any], unite: Unite | None) -> dict[str, Any]:
        values = dict(DEFAULTS[dossier.module])
        if dossier.module is Module.SANITAIRE:
            patient = self.patients_by_id[dossier.patient_id]
            values |= {"adresse": f"{patient.adresse}, {patient.code_postal} {patient.ville}",
                       "service_demandeur": unite.nom if unite else "Cabinet",
                       "date_hospitalisation": self.clock.now().date().isoformat()}
        return values | clinique

    @property
    def patients_by_id(self) -> dict[int, Patient]:
        return {p.id: p for p in self.patients.values() if p.id is not None}

    def _dossier(self, uow: SqlUnitOfWork, spec: dict[str, Any], index: int) -> None:
        self.at(spec["jour"])
        author = self.users[spec["auteur"]]
        unite = self.unites.get(spec["uf"]) if "uf" in spec else None
        module = Module(spec["module"])
        dossier = dossiers.creer(uow, self.env, author, module, self.patients[spec["patient"]].id or 0,
                                 unite_id=unite.id if unite else None, anticipee=spec.get("anticipee", False))
        clinique = spec.get("clinique", {})
        values = clinique if spec.get("incomplet") else self._complete_values(dossier, clinique, unite)
        self._fill(uow, dossier, author, values)
        linked: Dossier | None = None
        for n, step in enumerate(spec.get("etapes", []), start=1):
            self.at(step["jour"], n)
            actor = self.users[step.get("par", spec["auteur"])]
            action = step["action"]
            target = linked if step.get("grand_age") or action == "selectionner_grand_age" else dossier
            assert target is not None and target.id is not None and dossier.id is not None
            day = self.clock.now().date()
            if action in ("selectionner", "selectionner_grand_age"):
                demandes.selectionner(uow, self.env, actor, target.id, [self.unites[u].id or 0 for u in step["unites"]],
                                      envoyer=step.get("envoyer", False))
            elif action == "annuler_dossier":
                dossiers.annuler_dossier(uow, self.env, actor, dossier.id, step["motif"])
            elif action == "retour_domicile":
                dossiers.retour_domicile(uow, self.env, actor, dossier.id,
                                         self.now.date() + dt.timedelta(days=step["date"]))
            elif action == "lier_grand_age":
                linked = dossiers.creer_grand_age_lie(uow, self.env, actor, dossier.id)
                self._fill(uow, linked, actor, step["volets"])
            else:
                unite_id = self.unites[step["uf"]].id
                demande = next(d for d in uow.demandes.for_dossier(target.id) if d.unite_id == unite_id)
                assert demande.id is not None

                dates = {k: day + dt.timedelta(days=step[k]) for k in ("date_debut", "date_fin", "date_admission")
                         if k in step}
                demandes.agir(uow, self.env, actor, demande.id, action, demandes.Answer(
                    motif=step.get("motif", ""), question=step.get("question", ""), reponse=step.get("reponse", ""),
                    **dates))


def load(container: Container, path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    return DemoLoader(container, data).load()
