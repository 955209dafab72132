"""The states a case passes through: one list for the queues, the importers, Open311 and the tests.

The state machine itself is data (table ``case_action``: which action moves which state to which);
this is its vocabulary, so Python names a state instead of spelling it. A test holds the two equal,
so a state added to the machine without a member here (or the reverse) fails the suite.
"""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    """GB/T 30428's links as states: intake, filing, dispatch, handling, checking, closure, and the side paths."""

    REPORTED = "reported"
    ACCEPTED = "accepted"
    FILED = "filed"
    DISPATCHED = "dispatched"
    RETURNED = "returned"
    ACKNOWLEDGED = "acknowledged"
    HANDLING = "handling"
    CHECKING = "checking"
    EXTENSION_REQUESTED = "extension_requested"
    PARKING_REQUESTED = "parking_requested"
    PARKED = "parked"
    REWORK = "rework"
    CLOSED = "closed"
    VOID = "void"

    @property
    def ended(self) -> bool:
        """Closed or voided: nothing is owed on the case until someone reopens it."""
        return self in ENDED_STATES


ENDED_STATES = (CaseState.CLOSED, CaseState.VOID)
OPEN_STATES = tuple(state for state in CaseState if state not in ENDED_STATES)
