"""deployments and feedback

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:57:57.853036
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deployments',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('current_revision', sa.Integer(), nullable=False),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.Column('updated_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_deployments'))
    )
    op.create_table('feedback',
    sa.Column('deployment', sa.String(length=256), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('deployment', 'request_id', name=op.f('pk_feedback'))
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_deployment_timestamp'), ['deployment', 'timestamp'], unique=False)

    op.create_table('deployment_revisions',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('routes', sa.Text(), nullable=False),
    sa.Column('shadow', sa.Text(), nullable=False),
    sa.Column('batching', sa.Text(), nullable=False),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=256), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('rollback_of', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['name'], ['deployments.name'], name=op.f('fk_deployment_revisions_name_deployments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('name', 'revision', name=op.f('pk_deployment_revisions'))
    )


def downgrade() -> None:
    op.drop_table('deployment_revisions')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_deployment_timestamp'))

    op.drop_table('feedback')
    op.drop_table('deployments')
