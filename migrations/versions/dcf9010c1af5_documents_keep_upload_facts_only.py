"""documents keep what only the app knows: type, content hash and chunk count are the engine's

The engine's registry (`<RAG_TABLE>_documents`, rag_engine/store) holds each document's title,
type, content hash and chunk count under the same id; the app's row keeps the upload (title
given, stored file, size), its status and error. Downgrading copies the three columns back from
the registry where it has the document.

Revision ID: dcf9010c1af5
Revises: d4ed3001b377
Create Date: 2026-11-27 10:00:00.000000

"""
import os
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'dcf9010c1af5'
down_revision = 'd4ed3001b377'
branch_labels = None
depends_on = None


def moved():
    return (
        sa.Column('source_type', sa.String(length=16), nullable=False, server_default=''),
        sa.Column('content_hash', sa.String(length=64), nullable=False, server_default=''),
        sa.Column('chunk_count', sa.Integer(), nullable=False, server_default='0'),
    )


def upgrade():
    with op.batch_alter_table('documents', schema=None) as batch_op:
        for column in moved():
            batch_op.drop_column(column.name)


def downgrade():
    with op.batch_alter_table('documents', schema=None) as batch_op:
        for column in moved():
            batch_op.add_column(column)
    table = os.environ.get('RAG_TABLE', '').strip() or 'chunks'
    registry = f'{table}_documents'
    conn = op.get_bind()
    if re.fullmatch(r'[a-z][a-z0-9_]{0,40}', table) and \
            conn.execute(sa.text('SELECT to_regclass(:t)'), {'t': registry}).scalar() is not None:
        conn.execute(sa.text(
            f'UPDATE documents d SET source_type = r.source_type, content_hash = r.content_hash, '
            f'chunk_count = r.chunk_count FROM {registry} r '
            f'WHERE r.document_id = d.id AND r.tenant_id = d.company_id'))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        for column in moved():
            batch_op.alter_column(column.name, server_default=None)
