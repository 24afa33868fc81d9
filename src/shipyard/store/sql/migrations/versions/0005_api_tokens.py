"""api tokens

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:12:03.214511
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_time', sa.BigInteger(), nullable=False),
    sa.Column('last_used_time', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )


def downgrade() -> None:
    op.drop_table('api_tokens')
