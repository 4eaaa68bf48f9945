"""Prescripteur dashboard: sections, filters, search, pagination, icons, Excel export, live refresh."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
