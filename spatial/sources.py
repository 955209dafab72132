"""Where a report comes from: the one list the intake, the importers, the filters and the schema share.

The database holds the same values as its enum ``report_source`` (a test compares the two), so a
source added here without a migration fails the suite instead of the first report from it.
"""

from __future__ import annotations

from enum import StrEnum


class ReportSource(StrEnum):
    """The channels of 一网统管 intake: the front line, the 12345 hotline, citizens' apps, sensors, departments."""

    GRID_WORKER = "grid_worker"
    HOTLINE = "hotline"
    CITIZEN_APP = "citizen_app"
    SENSOR = "sensor"
    DEPARTMENT = "department"


SOURCES = tuple(source.value for source in ReportSource)
