"""The envelope every message shares: the base models and the request id.

One module so that `messages`, `stats` and `metrics` all build on the same
bases without importing each other (the union in `messages` imports them all).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WireModel(BaseModel):
    """Frozen, and tolerant of fields it does not know, so that a newer peer
    can add fields without breaking an older one.

    Built on first use (``defer_build``): a process pays for the validators of
    the messages it sends and receives, not for every message at import, which
    is most of a CLI verb's start."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class Request(WireModel):
    """A message that asks for something; the client picks ``id``."""

    id: int = Field(ge=0)


class Reply(WireModel):
    """A message that answers, or continues the stream of, request ``id``."""

    id: int = Field(ge=0)
