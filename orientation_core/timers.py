"""Timer rules of DOMAIN.md §4 as pure predicates over a policy of delays (all configuration).

The sweep that applies them lives in ``dossier/service.py`` (``sweep``); this module only answers
"is it due?" so the rules can be tested with nothing but datetimes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from orientation_core.clock import add_months


@dataclass(frozen=True)
class TimerPolicy:
    relance_manuelle: dt.timedelta = dt.timedelta(hours=72)
    relance_auto_mois: int = 2
    annulation_auto: dt.timedelta = dt.timedelta(days=30)
    archivage: dt.timedelta = dt.timedelta(days=15)

    def relance_manuelle_due(self, since: dt.datetime, now: dt.datetime) -> bool:
        """Manual relance (either side) once the awaited action is ``relance_manuelle`` late."""
        return now - since >= self.relance_manuelle

    def relance_auto_due(self, derniere_action: dt.datetime, now: dt.datetime) -> bool:
        return now >= add_months(derniere_action, self.relance_auto_mois)

    def annulation_auto_due(self, relance_at: dt.datetime, now: dt.datetime) -> bool:
        return now - relance_at >= self.annulation_auto

    def archivage_due(self, annule_at: dt.datetime, now: dt.datetime) -> bool:
        return now - annule_at >= self.archivage

    def reactivable_until(self, annule_at: dt.datetime) -> dt.datetime:
        return annule_at + self.archivage
