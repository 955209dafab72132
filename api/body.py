"""What every request body shares: fields it does not know and numbers that are not finite are refused.

JSON has no NaN or Infinity, but Python's parser accepts them: a 3-D point with a NaN altitude
was stored as given. A body that names a field the endpoint does not take is a mistake the
client should hear about, not a silent drop.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestBody(BaseModel):
    """The base of every request body model (each adds its own settings, e.g. whitespace stripping)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
