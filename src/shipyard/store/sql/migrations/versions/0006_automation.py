"""automation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 02:08:30.083481
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_events',
    sa.Column('event_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('policy', sa.String(length=256), nullable=False),
    sa.Column('deployment', sa.String(length=256), nullable=False),
    sa.Column('time', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_policy_events'))
    )
    with op.batch_alter_table('policy_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_events_deployment_time'), ['deployment', 'time'], unique=False)
        batch_op.create_index(batch_op.f('ix_policy_events_policy_time'), ['policy', 'time'], unique=False)

    op.create_table('rollouts',
    sa.Column('rollout_id', sa.String(length=32), nullable=False),
    sa.Column('deployment', sa.String(length=256), nullable=False),
    sa.Column('policy', sa.String(length=256), nullable=True),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('candidate_version', sa.Integer(), nullable=False),
    sa.Column('stable_version', sa.Integer(), nullable=True),
    sa.Column('steps', sa.Text(), nullable=False),
    sa.Column('dwell_ms', sa.BigInteger(), nullable=False),
    sa.Column('criteria', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('active_key', sa.String(length=256), nullable=True),
    sa.Column('started_time', sa.BigInteger(), nullable=False),
    sa.Column('step_started_time', sa.BigInteger(), nullable=False),
    sa.Column('updated_time', sa.BigInteger(), nullable=False),
    sa.Column('finished_time', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('rollout_id', name=op.f('pk_rollouts')),
    sa.UniqueConstraint('active_key', name=op.f('uq_rollouts_active_key'))
    )
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rollouts_deployment_started_time'), ['deployment', 'started_time'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('rollouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rollouts_deployment_started_time'))

    op.drop_table('rollouts')
    with op.batch_alter_table('policy_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_events_policy_time'))
        batch_op.drop_index(batch_op.f('ix_policy_events_deployment_time'))

    op.drop_table('policy_events')
