"""participants: the public directory's fields on institutions and accounts, posts, daily snapshots' source,
the press and smm roles' one-time password links

Revision ID: 0016_participants
Revises: 0015_payloads
Create Date: 2026-11-30 12:00:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0016_participants'
down_revision = '0015_payloads'
branch_labels = None
depends_on = None


def _code() -> str:
    return secrets.token_urlsafe(6).replace("-", "x").replace("_", "y").lower()


def upgrade():
    with op.batch_alter_table('institutions') as batch:
        batch.add_column(sa.Column('slug', sa.String(length=80), nullable=True))
        batch.add_column(sa.Column('receives_appeals', sa.Boolean(), server_default='1', nullable=False))
        batch.add_column(sa.Column('site', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('logo_path', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('logo_type', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('smm_name', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('smm_contacts', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('feedback_code', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('public_feedback', sa.Boolean(), server_default='1', nullable=False))
    bind = op.get_bind()
    inst = sa.table('institutions', sa.column('id', sa.Integer), sa.column('slug', sa.String),
                    sa.column('feedback_code', sa.String))
    for (iid,) in bind.execute(sa.select(inst.c.id)).all():
        bind.execute(inst.update().where(inst.c.id == iid).values(slug=f"p{iid}", feedback_code=_code()))
    with op.batch_alter_table('institutions') as batch:
        batch.alter_column('slug', existing_type=sa.String(length=80), nullable=False)
        batch.create_unique_constraint('uq_institutions_slug', ['slug'])
        batch.create_unique_constraint('uq_institutions_feedback_code', ['feedback_code'])

    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('label', sa.String(length=60), nullable=True))
        batch.add_column(sa.Column('avatar_path', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('avatar_type', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('posts_source', sa.String(length=10), server_default='api', nullable=False))
        batch.add_column(sa.Column('connected_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('collected_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('collect_error', sa.String(length=500), nullable=True))
        batch.add_column(sa.Column('collect_error_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('failure_notified_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('token_enc', sa.Text(), nullable=True))
        batch.add_column(sa.Column('user_token_enc', sa.Text(), nullable=True))
        batch.add_column(sa.Column('secret_enc', sa.Text(), nullable=True))
        batch.add_column(sa.Column('confirmation_code', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('token_rights', sa.String(length=500), nullable=True))
        batch.add_column(sa.Column('token_checked_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('account_snapshots') as batch:
        batch.add_column(sa.Column('collected_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('source', sa.String(length=10), server_default='collector', nullable=False))

    op.create_table(
        'posts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('external_id', sa.String(length=64), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('permalink', sa.Text(), nullable=True),
        sa.Column('media_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('views', sa.Integer(), nullable=True),
        sa.Column('reactions', sa.Integer(), nullable=True),
        sa.Column('comments', sa.Integer(), nullable=True),
        sa.Column('reposts', sa.Integer(), nullable=True),
        sa.Column('metrics_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('source', sa.String(length=10), server_default='network', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_id', 'external_id'),
    )
    op.create_index('ix_posts_account_published', 'posts', ['account_id', 'published_at'])
    op.create_index('ix_posts_published', 'posts', ['published_at'])

    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('post_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_messages_post_id', 'posts', ['post_id'], ['id'])
        batch.create_index('ix_messages_post_id', ['post_id'])

    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('password_token_hash', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('password_token_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint('uq_users_password_token_hash', ['password_token_hash'])


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_constraint('uq_users_password_token_hash', type_='unique')
        batch.drop_column('password_token_expires_at')
        batch.drop_column('password_token_hash')
    with op.batch_alter_table('messages') as batch:
        batch.drop_index('ix_messages_post_id')
        batch.drop_constraint('fk_messages_post_id', type_='foreignkey')
        batch.drop_column('post_id')
    op.drop_index('ix_posts_published', table_name='posts')
    op.drop_index('ix_posts_account_published', table_name='posts')
    op.drop_table('posts')
    with op.batch_alter_table('account_snapshots') as batch:
        batch.drop_column('source')
        batch.drop_column('collected_at')
    with op.batch_alter_table('accounts') as batch:
        for col in ('token_checked_at', 'token_rights', 'confirmation_code', 'secret_enc', 'user_token_enc',
                    'token_enc', 'failure_notified_at', 'failing_since', 'collect_error_at', 'collect_error',
                    'collected_at', 'connected_at', 'posts_source', 'avatar_type', 'avatar_path', 'label'):
            batch.drop_column(col)
    with op.batch_alter_table('institutions') as batch:
        batch.drop_constraint('uq_institutions_feedback_code', type_='unique')
        batch.drop_constraint('uq_institutions_slug', type_='unique')
        for col in ('public_feedback', 'feedback_code', 'smm_contacts', 'smm_name', 'logo_type', 'logo_path',
                    'site', 'receives_appeals', 'slug'):
            batch.drop_column(col)
