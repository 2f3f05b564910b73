"""channel ownership: a random platform inbound hash per company, custom inbound addresses proven first

Revision ID: a1c0e5b7d201
Revises: 5b7c2e9d41a0
Create Date: 2026-11-27 10:00:00

"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = 'a1c0e5b7d201'
down_revision = '5b7c2e9d41a0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbound_hash', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('inbound_email_pending', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('inbound_email_code', sa.String(length=64), nullable=True))
    conn = op.get_bind()
    for (company_id,) in conn.execute(sa.text("SELECT id FROM companies")).all():
        conn.execute(sa.text("UPDATE companies SET inbound_hash = :h WHERE id = :id"),
                     {"h": secrets.token_hex(8), "id": company_id})
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.alter_column('inbound_hash', nullable=False)
        batch_op.create_unique_constraint('uq_companies_inbound_hash', ['inbound_hash'])


def downgrade():
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_constraint('uq_companies_inbound_hash', type_='unique')
        batch_op.drop_column('inbound_email_code')
        batch_op.drop_column('inbound_email_pending')
        batch_op.drop_column('inbound_hash')
