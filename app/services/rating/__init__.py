"""The participants' effectiveness rating (issue 14). The figures of a participant over a period
(audience, activity, engagement, feedback), computed in bulk for a direction, and the composite (mean of
ranks within a direction); see docs/rating.md «Как считается».
Periods are the board's (app/services/board/periods.py)."""
from __future__ import annotations

from app.services.rating.composite import (  # noqa: F401
    CHECK_GROWTH,
    FEW_DATA,
    JUMP_PEOPLE,
    JUMP_SHARE,
    MIN_AUDIENCE,
    MIN_POSTS,
    RANKED,
    Rating,
    RatingRow,
    average_ranks,
    composite_for_direction,
    implausible_jumps,
    rank,
)
from app.services.rating.figures import (  # noqa: F401
    COMPONENTS,
    EVERYONE,
    Figures,
    figures,
    figures_for,
    figures_for_direction,
)
