"""ganstab's own tables in the study database (`Store`, in `store.py`), their records
(`records.py`: RunRecord, EvaluationRecord, DiagnosisRecord, LabelledRun, ...), the schema
(`tables.py`) and the database URLs (`urls.py`). Optuna's side of the same database is
`studies.py`; the drivers' lock is `lock.py` (both imported where needed, so this package stays
light: the CLI imports it for its error type before it knows the command).
"""

from __future__ import annotations

from ganstab.storage.records import DuplicateRunError, NotFoundError
from ganstab.storage.store import Store
from ganstab.storage.tables import SCHEMA_VERSION, TABLE_PREFIX, metadata
from ganstab.storage.urls import StorageError, mask_url, normalize_url

__all__ = [
    "SCHEMA_VERSION",
    "TABLE_PREFIX",
    "DuplicateRunError",
    "NotFoundError",
    "Store",
    "StorageError",
    "mask_url",
    "metadata",
    "normalize_url",
]
