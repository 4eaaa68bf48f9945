"""Typed errors of the INSi client. They derive from the core's errors, so the use cases catch them by kind:
``InsiIndisponible`` (retryable: the identity stays provisoire, a retry is queued) or ``InsiRequeteRefusee``."""

from __future__ import annotations

from orientation_core.errors import AiguillageError, ValidationFailed
from orientation_core.identite.errors import InsiIndisponible, InsiRequeteRefusee


class InsiTransportError(InsiIndisponible):
    """Connection refused or reset, TLS failure, HTTP error without a SOAP answer."""

    code = "insi.transport"


class InsiTimeout(InsiIndisponible):
    code = "insi.delai_depasse"


class CircuitOpen(InsiIndisponible):
    """Too many recent failures: calls fail fast until the circuit half-opens."""

    code = "insi.circuit_ouvert"


class InsiProtocolError(InsiIndisponible):
    """The answer is not the RESULTAT the contract declares (schema-invalid, not XML)."""

    code = "insi.reponse_invalide"


class _SiramFault(AiguillageError):
    """What a SOAP fault carries (``siram:Erreur``), kept on the error and in its details."""

    def __init__(self, message: str, *, fault_code: str, siram_code: str, erreur_code: str, severite: str) -> None:
        super().__init__(message, details={"fault": fault_code, "siram": siram_code, "erreur": erreur_code,
                                           "severite": severite})
        self.fault_code = fault_code
        self.siram_code = siram_code
        self.erreur_code = erreur_code
        self.severite = severite


class InsiFault(_SiramFault, InsiIndisponible):
    """A SOAP fault carrying ``siram:Erreur``. Faults of the service itself (Receiver, siram_40 "temporarily
    unavailable") are retryable; see ``InsiRejected`` for faults on our request."""

    code = "insi.erreur_service"


class InsiRejected(_SiramFault, InsiRequeteRefusee):
    """A SOAP fault with code Sender: our request is wrong (traits, context headers, certificate rights)."""

    code = "insi.requete_refusee"


class InvalidMatricule(ValidationFailed):
    code = "ins.matricule_invalide"
