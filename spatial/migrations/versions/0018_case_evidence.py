"""case evidence: photos and videos uploaded to a case, the only ones its transitions may name

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

Feedback and checks carry evidence — the SHA-256 of a photo or video. Until now a hash was taken
on trust; from here a case's transitions may name only files stored for that case: its reports'
media, or evidence uploaded to the case (``case_media``, one row per case and file, who uploaded
it and when; the file itself is a row of ``media``, content-addressed as report media are).

``case_media`` is bound like ``report_media``: a row is visible, and may be written, only with a
case the caller's scope sees (migration 0010). The API may read and add rows, never change or
remove them: evidence a transition named stays. ``sha256`` is indexed for the media fetch, which
asks whether any visible case or report holds a file.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE case_media (
        event_id bigint NOT NULL REFERENCES event (id),
        sha256 varchar(64) NOT NULL REFERENCES media (sha256),
        filename text,
        uploaded_by text NOT NULL,
        uploaded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (event_id, sha256)
    );
    CREATE INDEX ix_case_media_sha256 ON case_media (sha256);

    ALTER TABLE case_media ENABLE ROW LEVEL SECURITY;
    CREATE POLICY case_media_in_scope ON case_media TO cityops_api
        USING (EXISTS (SELECT FROM event e WHERE e.id = case_media.event_id));
    GRANT SELECT, INSERT ON case_media TO cityops_api;
    """)


def downgrade() -> None:
    op.execute("DROP TABLE case_media")
