"""run leases and applied batches

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('applied_batches',
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('applied_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('batch_id', name=op.f('pk_applied_batches'))
    )
    with op.batch_alter_table('applied_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applied_batches_applied_time'), ['applied_time'], unique=False)

    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_expires', sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f('ix_runs_status_lease_expires'), ['status', 'lease_expires'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_status_lease_expires'))
        batch_op.drop_column('lease_expires')

    with op.batch_alter_table('applied_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applied_batches_applied_time'))

    op.drop_table('applied_batches')
