"""Sending a dossier: receiving-unit search and suggestions, send to several, the demandes and the
prescripteur's actions on them and on the dossier."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
