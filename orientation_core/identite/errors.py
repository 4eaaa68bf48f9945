"""Errors of identity vigilance. The INSi adapter (``ins``) raises subclasses of these."""

from __future__ import annotations

from orientation_core.errors import AiguillageError, TransitionNotAllowed, ValidationFailed


class TransitionIdentiteInterdite(TransitionNotAllowed):
    code = "identite.transition_interdite"


class InsiIndisponible(AiguillageError):
    """INSi could not answer (network, timeout, open circuit, service fault): the identity stays provisoire
    and the look-up is retried later. Never shown to a prescriber as a blocking error."""

    code = "insi.indisponible"
    retryable = True


class InsiRequeteRefusee(ValidationFailed):
    """INSi refused the request itself (a SOAP fault on our input): retrying the same request is useless."""

    code = "insi.requete_refusee"
