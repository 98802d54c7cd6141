"""The participants' effectiveness rating (issue 14). This slice: the figures of a participant over a period
(audience, activity, engagement), computed in bulk for a direction; see docs/rating.md «Как считается».
Periods are the board's (app/services/board/periods.py)."""
from __future__ import annotations

from app.services.rating.figures import (  # noqa: F401
    COMPONENTS,
    EVERYONE,
    Figures,
    figures,
    figures_for,
    figures_for_direction,
)
