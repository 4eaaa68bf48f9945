"""A demande: one dossier sent to one receiving unit, with its own status (DOMAIN.md §4)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from orientation_core.demande.workflow import ACTIVE_STATUSES, Actor, Status, Transition, transition_for
from orientation_core.errors import TransitionNotAllowed, ValidationFailed
from orientation_core.timers import TimerPolicy


@dataclass(frozen=True)
class Change:
    """What one action did to a demande, for the history."""

    action: str
    actor: Actor
    at: dt.datetime
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(eq=False)
class Demande:
    dossier_id: int
    unite_id: int
    statut: Status = Status.EN_REDACTION
    statut_at: dt.datetime | None = None  # when the current status was reached
    envoyee_at: dt.datetime | None = None
    motif: str = ""  # refusal or cancellation motive
    question: str = ""  # "demande de précision"
    reponse_precision: str = ""
    date_debut: dt.date | None = None  # accord de principe: range (or approximate date = debut only)
    date_fin: dt.date | None = None
    date_admission: dt.date | None = None  # acceptée: proposed admission date
    a_renvoyer: bool = False  # orientation changed after sending: re-send by hand
    relance_receveur_at: dt.datetime | None = None  # the prescripteur relanced the receiving unit
    relance_prescripteur_at: dt.datetime | None = None  # the receiving unit relanced the prescripteur
    annulee_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    version: int = 1
    id: int | None = None

    @property
    def active(self) -> bool:
        return self.statut in ACTIVE_STATUSES

    def snapshot(self) -> dict[str, Any]:
        return {
            "statut": self.statut.value,
            "motif": self.motif or None,
            "question": self.question or None,
            "date_debut": self.date_debut.isoformat() if self.date_debut else None,
            "date_fin": self.date_fin.isoformat() if self.date_fin else None,
            "date_admission": self.date_admission.isoformat() if self.date_admission else None,
        }

    def apply(self, action: str, *, actor: Actor, at: dt.datetime, timers: TimerPolicy | None = None,
              motif: str = "", question: str = "", reponse: str = "", date_debut: dt.date | None = None,
              date_fin: dt.date | None = None, date_admission: dt.date | None = None) -> Change:
        """Run one transition of the table, with its guards; returns the change for the history."""
        transition = transition_for(action, self.statut, actor)
        self._check_guards(transition, at, timers or TimerPolicy(), motif=motif, question=question,
                           reponse=reponse, date_debut=date_debut, date_fin=date_fin,
                           date_admission=date_admission)
        before = self.snapshot()
        if action == "demander_precision":
            self.question = question.strip()
        elif action == "repondre_precision":
            self.reponse_precision = reponse.strip()
        elif action == "accorder":
            self.date_debut, self.date_fin, self.date_admission, self.motif = date_debut, date_fin, None, ""
        elif action == "accepter":
            self.date_admission, self.motif = date_admission, ""
        elif action in ("refuser", "annuler", "annuler_systeme"):
            self.motif = motif.strip()
        elif action == "relancer_receveur":
            self.relance_receveur_at = at
        elif action == "relancer_prescripteur":
            self.relance_prescripteur_at = at
        if action in ("envoyer", "renvoyer", "reactiver"):
            self.envoyee_at, self.a_renvoyer, self.motif = at, False, ""
            self.date_debut = self.date_fin = self.date_admission = None  # a new answer is awaited
            self.relance_receveur_at = self.relance_prescripteur_at = None
        if transition.target is not None and transition.target is not self.statut:
            self.statut = transition.target
            self.statut_at = at
        elif transition.target is not None:
            self.statut_at = at  # a receiver changing his answer (new dates) restarts the clock
        if action in ("annuler", "annuler_systeme"):
            self.annulee_at = at
        elif self.statut is not Status.ANNULEE:
            self.annulee_at = None
        self.updated_at = at
        return Change(action, actor, at, before, self.snapshot())

    def _check_guards(self, transition: Transition, at: dt.datetime, timers: TimerPolicy, *, motif: str,
                      question: str, reponse: str, date_debut: dt.date | None, date_fin: dt.date | None,
                      date_admission: dt.date | None) -> None:
        action = transition.action
        if action == "accorder":
            if date_debut is None:
                raise ValidationFailed(
                    "Un accord de principe doit porter une fourchette de dates ou une date approximative.",
                    code="demande.accord_sans_date",
                )
            if date_fin is not None and date_fin < date_debut:
                raise ValidationFailed("La fin de la fourchette précède son début.", code="demande.fourchette")
        if action == "accepter" and date_admission is None:
            raise ValidationFailed("Une acceptation doit proposer une date d'admission.",
                                   code="demande.acceptation_sans_date")
        if action in ("refuser", "annuler") and not motif.strip():
            raise ValidationFailed("Le motif est obligatoire.", code="demande.motif_obligatoire")
        if action == "demander_precision" and not question.strip():
            raise ValidationFailed("La question est obligatoire.", code="demande.question_obligatoire")
        if action == "repondre_precision" and not reponse.strip():
            raise ValidationFailed("La réponse est obligatoire.", code="demande.reponse_obligatoire")
        if action in ("relancer_receveur", "relancer_prescripteur"):
            since = self.statut_at
            last = self.relance_receveur_at if action == "relancer_receveur" else self.relance_prescripteur_at
            if last is not None and (since is None or last > since):
                since = last  # one relance per delay
            if since is None or not timers.relance_manuelle_due(since, at):
                hours = int(timers.relance_manuelle.total_seconds() // 3600)
                raise ValidationFailed(
                    f"La relance n'est possible que {hours} h après la dernière réponse ou relance.",
                    code="demande.relance_trop_tot",
                )
        if action == "reactiver" and self.annulee_at is not None and not at - self.annulee_at < timers.archivage:
            raise ValidationFailed("Le délai de réactivation est dépassé.", code="demande.reactivation_expiree")

    def relance_possible(self, actor: Actor, now: dt.datetime, timers: TimerPolicy) -> bool:
        action = "relancer_receveur" if actor is Actor.PRESCRIPTEUR else "relancer_prescripteur"
        try:
            transition = transition_for(action, self.statut, actor)
            self._check_guards(transition, now, timers, motif="", question="", reponse="", date_debut=None,
                               date_fin=None, date_admission=None)
        except (TransitionNotAllowed, ValidationFailed):
            return False
        return True
