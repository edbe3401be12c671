"""What only a serving process reads from its environment, beside ``data.settings``.

Kept apart from ``serving.app`` so ``dealer-risk serve`` can check these variables in a
second, before any worker imports the model stack (a bad value is then one line, not a
traceback from each worker).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from data.settings import Settings
from serving.audit import AUDIT_WAIT_SECONDS, LOCK_WAIT_SECONDS

#: How often a worker checks the champion alias and the newest list, in seconds.
DEFAULT_RELOAD_SECONDS = 30.0


class ServingSettings(Settings):
    """The settings plus what only a serving process needs."""

    reload_interval_seconds: float = Field(
        default=DEFAULT_RELOAD_SECONDS, gt=0, validation_alias="DEALER_RISK_RELOAD_SECONDS"
    )
    opentelemetry: bool = Field(default=False, validation_alias="DEALER_RISK_OPENTELEMETRY")
    #: How long a serving connection waits for a lock before its statement fails (503).
    lock_wait_seconds: float = Field(
        default=LOCK_WAIT_SECONDS, gt=0, validation_alias="DEALER_RISK_LOCK_WAIT_SECONDS"
    )
    #: How long a request waits for its audit row before it is refused (503).
    audit_wait_seconds: float = Field(
        default=AUDIT_WAIT_SECONDS, gt=0, validation_alias="DEALER_RISK_AUDIT_WAIT_SECONDS"
    )

    @model_validator(mode="after")
    def _lock_before_audit(self) -> ServingSettings:
        # A locked table must fail the insert (nothing committed) before the request
        # gives up on its row, or a served row could be committed after the 503.
        if self.lock_wait_seconds >= self.audit_wait_seconds:
            raise ValueError("DEALER_RISK_LOCK_WAIT_SECONDS must be shorter than "
                             "DEALER_RISK_AUDIT_WAIT_SECONDS")
        return self


def serving_settings(settings: Settings) -> ServingSettings:
    """``settings`` as serving settings: plain ones (a test's, a script's) get the serving
    defaults, without reading the environment again."""
    if isinstance(settings, ServingSettings):
        return settings
    return ServingSettings.model_construct(**settings.model_dump())
