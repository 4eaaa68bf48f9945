"""The periodic timer sweep (DOMAIN.md §4): automatic relance, automatic cancellation, archival.

Idempotent by construction: each step selects only what is due and not yet done, and doing it removes the
item from its own selection. Run it twice at the same instant: the second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from orientation_core.clock import add_months
from orientation_core.demande.workflow import Actor, Motif, Status
from orientation_core.dossier.model import EtatDossier
from orientation_core.dossier.service import cancel_demandes
from orientation_core.history import notify, record
from orientation_core.ports import Env, UnitOfWork

SYSTEM = Actor.SYSTEM.value


@dataclass(frozen=True)
class SweepReport:
    relances_auto: int = 0
    dossiers_annules: int = 0
    demandes_annulees: int = 0
    demandes_archivees: int = 0
    dossiers_archives: int = 0

    @property
    def total(self) -> int:
        return (self.relances_auto + self.dossiers_annules + self.demandes_annulees + self.demandes_archivees
                + self.dossiers_archives)


def sweep(uow: UnitOfWork, env: Env) -> SweepReport:
    now = env.clock.now()
    timers = env.timers

    # 1. Automatic relance of the prescripteur: open dossier, last action older than N months, at least one
    #    unconfirmed proposition (the repository checks the proposition).
    relances = 0
    # Month-end clamping makes "now - N months" up to 3 days early or late: select wider, let the policy decide.
    wide_cutoff = add_months(now, -timers.relance_auto_mois) + dt.timedelta(days=3)
    for dossier in uow.dossiers.due_relance_auto(wide_cutoff):
        assert dossier.id is not None and dossier.derniere_action_at is not None
        if not timers.relance_auto_due(dossier.derniere_action_at, now):
            continue
        dossier.relance_auto_at = now
        dossier.updated_at = now
        record(uow, dossier.id, now, "relance_auto", SYSTEM, None, apres={"relance_auto_at": now.isoformat()})
        notify(uow, now, "dossier.relance_auto", dossier_id=dossier.id, destinataire="prescripteur")
        relances += 1

    # 2. Nothing happened within the delay after that relance: live demandes cancelled, dossier cancelled.
    dossiers_annules = 0
    for dossier in uow.dossiers.due_annulation_auto(now - timers.annulation_auto):
        assert dossier.id is not None
        cancel_demandes(uow, env, dossier, Motif.ANNULATION_AUTOMATIQUE.value, None)
        dossier.annuler(now, Motif.ANNULATION_AUTOMATIQUE.value)
        dossier.updated_at = now
        record(uow, dossier.id, now, "dossier.annulation_automatique", SYSTEM, None,
               apres={"motif": Motif.ANNULATION_AUTOMATIQUE.value})
        notify(uow, now, "dossier.annule", dossier_id=dossier.id, destinataire="prescripteur",
               motif=Motif.ANNULATION_AUTOMATIQUE.value)
        dossiers_annules += 1

    # 3. A receiving unit relanced the prescripteur and he did nothing: that demande is cancelled.
    demandes_annulees = 0
    for demande in uow.demandes.due_annulation_after_relance(now - timers.annulation_auto):
        change = demande.apply("annuler_systeme", actor=Actor.SYSTEM, at=now, timers=timers,
                               motif=Motif.ANNULATION_AUTOMATIQUE.value)
        record(uow, demande.dossier_id, now, "demande.annulation_automatique", SYSTEM, None,
               demande_id=demande.id, avant=change.before, apres=change.after)
        notify(uow, now, "demande.statut", demande_id=demande.id, dossier_id=demande.dossier_id,
               destinataire="both", statut=Status.ANNULEE.value, motif=Motif.ANNULATION_AUTOMATIQUE.value)
        demandes_annulees += 1

    # 4. Cancelled demandes are archived after the archival delay (reactivable until then).
    archive_cutoff = now - timers.archivage
    demandes_archivees = 0
    for demande in uow.demandes.due_archivage(archive_cutoff, [Status.ANNULEE]):
        change = demande.apply("archiver", actor=Actor.SYSTEM, at=now, timers=timers)
        record(uow, demande.dossier_id, now, "demande.archiver", SYSTEM, None, demande_id=demande.id,
               avant=change.before, apres=change.after)
        demandes_archivees += 1

    # 5. Cancelled dossiers are archived after the same delay, with what is left of their demandes.
    dossiers_archives = 0
    for dossier in uow.dossiers.due_archivage(archive_cutoff):
        assert dossier.id is not None
        for demande in uow.demandes.for_dossier(dossier.id):
            if demande.statut in (Status.ANNULEE, Status.REFUSEE):
                change = demande.apply("archiver", actor=Actor.SYSTEM, at=now, timers=timers)
                record(uow, dossier.id, now, "demande.archiver", SYSTEM, None, demande_id=demande.id,
                       avant=change.before, apres=change.after)
                demandes_archivees += 1
        dossier.etat = EtatDossier.ARCHIVE
        dossier.updated_at = now
        record(uow, dossier.id, now, "dossier.archiver", SYSTEM, None)
        dossiers_archives += 1

    uow.flush()
    return SweepReport(relances, dossiers_annules, demandes_annulees, demandes_archivees, dossiers_archives)
