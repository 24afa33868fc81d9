"""pipeline run leases

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_expires', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_pipeline_runs_state_lease_expires'), ['state', 'lease_expires'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipeline_runs_state_lease_expires'))
        batch_op.drop_column('lease_expires')
