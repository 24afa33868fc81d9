"""pipelines

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:03:41.067076
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pipeline_runs',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('pipeline', sa.String(length=256), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('params', sa.Text(), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('logical_date', sa.BigInteger(), nullable=True),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.Column('start_time', sa.BigInteger(), nullable=True),
    sa.Column('end_time', sa.BigInteger(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_pipeline_runs'))
    )
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipeline_runs_pipeline_created_time'), ['pipeline', 'created_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_pipeline_runs_state'), ['state'], unique=False)

    op.create_table('schedule_ticks',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('tick_time', sa.BigInteger(), nullable=False),
    sa.Column('claimed_time', sa.BigInteger(), nullable=False),
    sa.Column('owner', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('name', 'tick_time', name=op.f('pk_schedule_ticks'))
    )
    op.create_table('task_runs',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=256), nullable=False),
    sa.Column('task_name', sa.String(length=256), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.BigInteger(), nullable=True),
    sa.Column('end_time', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_kind', sa.String(length=20), nullable=True),
    sa.Column('traceback', sa.Text(), nullable=True),
    sa.Column('logs', sa.Text(), nullable=False),
    sa.Column('cache_key', sa.String(length=64), nullable=True),
    sa.Column('output_uri', sa.Text(), nullable=True),
    sa.Column('tracking_run_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['pipeline_runs.run_id'], name=op.f('fk_task_runs_run_id_pipeline_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'key', name=op.f('pk_task_runs'))
    )
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_runs_cache_key'), ['cache_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_runs_cache_key'))

    op.drop_table('task_runs')
    op.drop_table('schedule_ticks')
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipeline_runs_state'))
        batch_op.drop_index(batch_op.f('ix_pipeline_runs_pipeline_created_time'))

    op.drop_table('pipeline_runs')
