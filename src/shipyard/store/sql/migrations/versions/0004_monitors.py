"""monitors

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 01:56:17.711126
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitors',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('deployment', sa.String(length=256), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.Column('updated_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_monitors'))
    )
    op.create_table('alerts',
    sa.Column('alert_id', sa.String(length=32), nullable=False),
    sa.Column('monitor', sa.String(length=256), nullable=False),
    sa.Column('check_name', sa.String(length=256), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('open_key', sa.Text(), nullable=True),
    sa.Column('opened_time', sa.BigInteger(), nullable=False),
    sa.Column('resolved_time', sa.BigInteger(), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('resolved_message', sa.Text(), nullable=False),
    sa.Column('deliveries', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['monitor'], ['monitors.name'], name=op.f('fk_alerts_monitor_monitors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('open_key', name=op.f('uq_alerts_open_key'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_monitor_opened_time'), ['monitor', 'opened_time'], unique=False)

    op.create_table('monitor_results',
    sa.Column('result_id', sa.String(length=32), nullable=False),
    sa.Column('monitor', sa.String(length=256), nullable=False),
    sa.Column('run_time', sa.BigInteger(), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('labeled_rows', sa.BigInteger(), nullable=False),
    sa.Column('window_start', sa.BigInteger(), nullable=True),
    sa.Column('window_end', sa.BigInteger(), nullable=True),
    sa.Column('checks', sa.Text(), nullable=False),
    sa.Column('features', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['monitor'], ['monitors.name'], name=op.f('fk_monitor_results_monitor_monitors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('result_id', name=op.f('pk_monitor_results'))
    )
    with op.batch_alter_table('monitor_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_results_monitor_run_time'), ['monitor', 'run_time'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('monitor_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_results_monitor_run_time'))

    op.drop_table('monitor_results')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_monitor_opened_time'))

    op.drop_table('alerts')
    op.drop_table('monitors')
