"""Référent administration: units, user accounts, habilitations, DPI clients."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
