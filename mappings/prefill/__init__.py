"""Prefill of Sanitaire and Grand Âge dossiers from canonical DPI data, each value with its provenance (issue 6).

``prefill(canonicals, module)`` → volet → field → ``PrefilledValue``; ``completeness`` says what each volet still
misses. Pure: no I/O; the gateway glue (gateway/prefill.py) hands the values to ``orientation_core.dossier.prefill``.
"""

from mappings.prefill.engine import (
    PrefilledValue,
    VoletCompleteness,
    as_plain,
    completeness,
    prefill,
)
from mappings.prefill.maps import MAPS, FieldMap

__all__ = ["MAPS", "FieldMap", "PrefilledValue", "VoletCompleteness", "as_plain", "completeness", "prefill"]
