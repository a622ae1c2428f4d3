"""`python -m ganstab.cli`, as the `ganstab` command."""

from __future__ import annotations

from ganstab.cli import main

raise SystemExit(main())
