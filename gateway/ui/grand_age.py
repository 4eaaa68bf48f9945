"""Grand Âge dossier: the AGGIR grid and the computed GIR, the linked Grand Âge dossier."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
