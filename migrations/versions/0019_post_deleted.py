"""post deleted: a post deleted on the platforms through the app is kept (residents' comments link to it) but no
longer counted or listed; the posts' two indexes leave deleted posts out (partial), so the directory's counts stay
index-only reads

Revision ID: 0019_post_deleted
Revises: 0018_publishing
Create Date: 2026-11-30 16:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0019_post_deleted'
down_revision = '0018_publishing'
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade():
    with op.batch_alter_table('posts') as batch:
        batch.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
    op.drop_index('ix_posts_account_published', table_name='posts')
    op.drop_index('ix_posts_published', table_name='posts')
    op.create_index('ix_posts_account_published', 'posts', ['account_id', 'published_at'],
                    postgresql_where=LIVE, sqlite_where=LIVE)
    op.create_index('ix_posts_published', 'posts', ['published_at'], postgresql_where=LIVE, sqlite_where=LIVE)


def downgrade():
    op.drop_index('ix_posts_published', table_name='posts')
    op.drop_index('ix_posts_account_published', table_name='posts')
    op.create_index('ix_posts_account_published', 'posts', ['account_id', 'published_at'])
    op.create_index('ix_posts_published', 'posts', ['published_at'])
    with op.batch_alter_table('posts') as batch:
        batch.drop_column('deleted_at')
