"""users.session_version: logging out, a new password or "log out everywhere" end every session

Revision ID: c5d8a2e61f47
Revises: b7e2f4c9a310
Create Date: 2026-11-27 14:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c5d8a2e61f47'
down_revision = 'b7e2f4c9a310'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
