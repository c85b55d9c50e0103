"""What every configuration model shares: frozen once loaded, unknown keys refused, bounded durations."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# A week at most: a longer wait is a typing mistake, and inf or nan would disable the limit.
PositiveSeconds = Annotated[float, Field(gt=0, le=7 * 86400, allow_inf_nan=False)]


class Frozen(BaseModel):
    """A configuration table: immutable, and a misspelt key is an error rather than ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
