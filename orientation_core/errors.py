"""Domain errors: a stable code, a French message for users, a retryable flag. No HTTP, no HL7 here.

The edges translate them: problem JSON / OperationOutcome in ``gateway.errors``, ACK codes in
``hl7_listeners.ack``, task retries in ``gateway.worker``.
"""

from __future__ import annotations

from typing import Any


class AiguillageError(Exception):
    """Base of every domain error."""

    code: str = "erreur"
    retryable: bool = False

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}


class NotFound(AiguillageError):
    code = "introuvable"


class Forbidden(AiguillageError):
    code = "droits.refuse"


class TransitionNotAllowed(AiguillageError):
    code = "demande.transition_interdite"


class ValidationFailed(AiguillageError):
    code = "validation"


class Conflict(AiguillageError):
    code = "conflit"


class StoreUnavailable(AiguillageError):
    code = "stockage.indisponible"
    retryable = True
