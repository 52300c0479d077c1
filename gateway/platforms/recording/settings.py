"""The recording adapter's settings: the only place its `RECORDING_*` variable is named."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema, validate
from marshmallow import fields as mf


class Variables(Schema):
    class Meta:
        unknown = EXCLUDE

    RECORDING_ADAPTER_DELAY_MS = mf.Integer(validate=validate.Range(min=0, max=60_000))


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    """`delay_ms` is how long each write's answer takes (the write itself lands first), so a test can stop or kill a
    worker in the middle of a job."""

    delay_ms: int = 0
    poll_seconds: int = 60
    max_concurrent: int | None = None  # records in memory: no cap

    @classmethod
    def from_variables(cls, data: Mapping[str, Any]) -> RecordingSettings:
        return cls(delay_ms=int(data.get("RECORDING_ADAPTER_DELAY_MS", 0)))
