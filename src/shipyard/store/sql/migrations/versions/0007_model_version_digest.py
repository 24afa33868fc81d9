"""model version digest

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 03:30:12.402118

The digest a registered version is checked against moves from the user-editable tag
``shipyard.model_digest`` into a column of the version, written only at registration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_TAG = 'shipyard.model_digest'


def upgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=64), nullable=True))
    # The digest each version recorded at registration (as a tag until now) becomes its column; a
    # value that is not a SHA-256 (rewritten by hand) is left out rather than trusted.
    op.execute(sa.text(
        "UPDATE model_versions SET digest = (SELECT t.value FROM model_version_tags t "
        "WHERE t.name = model_versions.name AND t.version = model_versions.version AND t.key = :key "
        "AND length(t.value) = 64)").bindparams(key=_TAG))
    op.execute(sa.text("DELETE FROM model_version_tags WHERE key = :key").bindparams(key=_TAG))


def downgrade() -> None:
    op.execute(sa.text(
        "INSERT INTO model_version_tags (name, version, key, value) SELECT name, version, :key, digest "
        "FROM model_versions WHERE digest IS NOT NULL").bindparams(key=_TAG))
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('digest')
