"""Prefill and refresh of a dossier from DPI values already mapped (issue 6).

The values arrive mapped (``mappings.prefill`` in the gateway glue: orientation_core never imports mappings) as
plain data: volet → field → ``{"valeur": …, "source": "hl7v2", "message_id": …, "emplacement": "PID-5[1].1",
"chemin": "patient.nom_naissance", "recu_le": "…"}``. The refresh rule lives in ``provenance.refresh_field``:
unedited fields follow the DPI, edited fields are kept and flagged when the DPI differs. One history event per
application lists what changed, so a value the DPI replaced can always be found again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orientation_core.demande.workflow import Actor
from orientation_core.dossier.model import Dossier
from orientation_core.dossier.provenance import Change, Outcome, refresh_field
from orientation_core.dossier.service import flag_resend
from orientation_core.history import record
from orientation_core.ports import Env, UnitOfWork

SYSTEME = Actor.SYSTEM.value
DpiValues = Mapping[str, Mapping[str, Mapping[str, Any]]]  # volet → field → {"valeur", provenance keys}


def appliquer(uow: UnitOfWork, env: Env, dossier_id: int, values: DpiValues, *, user_id: int | None = None
              ) -> list[Change]:
    """Prefill or refresh one dossier; a closed dossier (cancelled, archived, admitted) is left alone."""
    dossier = uow.dossiers.get(dossier_id)
    if not dossier.ouvert:
        return []
    return appliquer_au_dossier(uow, env, dossier, values, user_id=user_id)


def appliquer_au_dossier(uow: UnitOfWork, env: Env, dossier: Dossier, values: DpiValues, *,
                         user_id: int | None = None) -> list[Change]:
    now = env.clock.now()
    changes: list[Change] = []
    orientation_changed = False
    for volet, fields in values.items():
        spec = dossier.volet_spec(volet)
        current = dossier.volets.get(volet, {})
        writes: dict[str, Any] = {}
        provenance = dossier.provenance
        for name, given in fields.items():
            if name not in spec.fields:
                continue  # a field this module's volet does not have (checked by the mapping tests)
            provenance, change = refresh_field(provenance, volet, name, current.get(name), given.get("valeur"),
                                               given)
            changes.append(change)
            if change.outcome in (Outcome.REMPLI, Outcome.MIS_A_JOUR):
                writes[name] = change.after
        dossier.provenance = provenance
        if writes:
            _, changed = dossier.update_volet(volet, writes, edited=False)
            orientation_changed = orientation_changed or changed
    visible = [c for c in changes if c.outcome is not Outcome.INCHANGE and c.outcome is not Outcome.CONSERVE]
    if not visible:
        return changes
    assert dossier.id is not None
    dossier.updated_at = now  # not a prescripteur action: the relance timers do not restart
    record(uow, dossier.id, now, "prefill.appliquer", SYSTEME, user_id,
           avant={f"{c.volet}.{c.field}": c.before for c in visible if c.outcome is Outcome.MIS_A_JOUR},
           apres={
               "remplis": sorted(f"{c.volet}.{c.field}" for c in visible if c.outcome is Outcome.REMPLI),
               "mis_a_jour": sorted(f"{c.volet}.{c.field}" for c in visible if c.outcome is Outcome.MIS_A_JOUR),
               "valeur_dpi_differente": {f"{c.volet}.{c.field}": c.dpi_value
                                         for c in visible if c.outcome is Outcome.DIFFERE},
           })
    if orientation_changed:
        flag_resend(uow, dossier, now, SYSTEME, user_id)
    return changes
