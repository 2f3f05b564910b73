"""one conversation per (company, channel, customer) on web and WhatsApp, enforced by a unique partial index

Conversations that concurrent first messages duplicated before this index existed are merged into the
oldest one (its messages moved; a person's takeover of any of them kept).

Revision ID: b7e2f4c9a310
Revises: a1c0e5b7d201
Create Date: 2026-11-27 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'b7e2f4c9a310'
down_revision = 'a1c0e5b7d201'
branch_labels = None
depends_on = None

STATUS_RANK = {"handed_off": 2, "active": 1, "resolved": 0}  # the merged conversation keeps the strongest


def upgrade():
    conn = op.get_bind()
    groups = conn.execute(sa.text(
        "SELECT company_id, channel, customer_id FROM conversations WHERE channel <> 'email' "
        "GROUP BY company_id, channel, customer_id HAVING count(*) > 1")).all()
    for company_id, channel, customer_id in groups:
        rows = conn.execute(sa.text(
            "SELECT id, status, last_message_at FROM conversations WHERE company_id = :c AND channel = :ch "
            "AND customer_id = :cu ORDER BY created_at, id"), {"c": company_id, "ch": channel, "cu": customer_id}).all()
        keeper, others = rows[0], rows[1:]
        status = max((r.status for r in rows), key=lambda s: STATUS_RANK.get(s, 0))
        last = max(r.last_message_at for r in rows)
        for other in others:
            conn.execute(sa.text("UPDATE messages SET conversation_id = :k WHERE conversation_id = :o"),
                         {"k": keeper.id, "o": other.id})
            conn.execute(sa.text("DELETE FROM conversations WHERE id = :o"), {"o": other.id})
        conn.execute(sa.text("UPDATE conversations SET status = :s, last_message_at = :l WHERE id = :k"),
                     {"s": status, "l": last, "k": keeper.id})
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('uq_conversations_one_per_customer', ['company_id', 'channel', 'customer_id'],
                              unique=True, postgresql_where=sa.text("channel <> 'email'"))


def downgrade():
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('uq_conversations_one_per_customer', postgresql_where=sa.text("channel <> 'email'"))
