"""Receveur pages: incoming demandes per unit, reading the dossier (traced médical opening), the answers."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
