"""feature store

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feature_definitions',
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'name', 'version', name=op.f('pk_feature_definitions'))
    )
    op.create_table('feature_materializations',
    sa.Column('materialization_id', sa.String(length=32), nullable=False),
    sa.Column('feature_view', sa.String(length=256), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('online_store', sa.String(length=512), nullable=False),
    sa.Column('start_time', sa.BigInteger(), nullable=False),
    sa.Column('end_time', sa.BigInteger(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('materialization_id', name=op.f('pk_feature_materializations'))
    )
    with op.batch_alter_table('feature_materializations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feature_materializations_feature_view_online_store_end_time'), ['feature_view', 'online_store', 'end_time'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feature_materializations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feature_materializations_feature_view_online_store_end_time'))
    op.drop_table('feature_materializations')
    op.drop_table('feature_definitions')
