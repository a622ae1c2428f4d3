"""Addresses of ganstab's pages in optuna-dashboard (no imports: recommend writes them into study
notes and the dashboard serves them, and neither needs the other for it)."""

from __future__ import annotations


def trial_page_path(study_id: int, trial_number: int) -> str:
    """The dashboard page of one trial (its parameters, curves, user attributes, note and images).

    optuna-dashboard 0.21's single-page app routes `/dashboard/studies/<study_id>/trials` and
    selects trials by number with `?numbers=`; `study_id` is the storage's id (Study._study_id,
    `/api/studies`), not the name."""
    return f"/dashboard/studies/{int(study_id)}/trials?numbers={int(trial_number)}"
