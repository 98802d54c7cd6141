"""board: verdicts, control orders, hot spots, snapshots

Revision ID: 0008_board
Revises: 0007_staff_telegram
Create Date: 2026-11-23 11:21:08.843717

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_board'
down_revision = '0007_staff_telegram'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('board_snapshots',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_board_snapshots'))
    )
    op.create_table('hot_spots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('ticket_count', sa.Integer(), nullable=False),
    sa.Column('open_count', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_hot_spots_category_id_categories')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_hot_spots_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hot_spots')),
    sa.UniqueConstraint('key', name=op.f('uq_hot_spots_key'))
    )
    with op.batch_alter_table('hot_spots', schema=None) as batch_op:
        batch_op.create_index('ix_hot_spots_last_seen', ['last_seen_at'], unique=False)

    op.create_table('hot_spot_tickets',
    sa.Column('hot_spot_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['hot_spot_id'], ['hot_spots.id'], name=op.f('fk_hot_spot_tickets_hot_spot_id_hot_spots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_hot_spot_tickets_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('hot_spot_id', 'ticket_id', name=op.f('pk_hot_spot_tickets'))
    )
    with op.batch_alter_table('hot_spot_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hot_spot_tickets_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('control_order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_control_order_events_actor_user_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['control_orders.id'], name=op.f('fk_control_order_events_order_id_control_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_control_order_events'))
    )
    with op.batch_alter_table('control_order_events', schema=None) as batch_op:
        batch_op.create_index('ix_control_order_events_order', ['order_id', 'id'], unique=False)

    with op.batch_alter_table('control_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hot_spot_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('report', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_control_orders_hot_spot_id'), ['hot_spot_id'], unique=False)
        batch_op.create_index('ix_control_orders_state_due', ['state', 'due_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_control_orders_hot_spot_id_hot_spots'), 'hot_spots', ['hot_spot_id'], ['id'])

    op.execute("UPDATE control_orders SET updated_at = created_at")
    with op.batch_alter_table('control_orders', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('control_order_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_notifications_control_order_id_control_orders'), 'control_orders', ['control_order_id'], ['id'])

    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buttons', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verdict', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('verdict_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reopen_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_tickets_rated', ['rated_at'], unique=False)
        batch_op.create_index('ix_tickets_resolved', ['resolved_at'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=200), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email')

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_resolved')
        batch_op.drop_index('ix_tickets_rated')
        batch_op.drop_column('reopen_count')
        batch_op.drop_column('verdict_at')
        batch_op.drop_column('verdict')
        batch_op.drop_column('rated_at')

    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.drop_column('buttons')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notifications_control_order_id_control_orders'), type_='foreignkey')
        batch_op.drop_column('control_order_id')

    with op.batch_alter_table('control_orders', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_control_orders_hot_spot_id_hot_spots'), type_='foreignkey')
        batch_op.drop_index('ix_control_orders_state_due')
        batch_op.drop_index(batch_op.f('ix_control_orders_hot_spot_id'))
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('reported_at')
        batch_op.drop_column('report')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('hot_spot_id')

    with op.batch_alter_table('control_order_events', schema=None) as batch_op:
        batch_op.drop_index('ix_control_order_events_order')

    op.drop_table('control_order_events')
    with op.batch_alter_table('hot_spot_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hot_spot_tickets_ticket_id'))

    op.drop_table('hot_spot_tickets')
    with op.batch_alter_table('hot_spots', schema=None) as batch_op:
        batch_op.drop_index('ix_hot_spots_last_seen')

    op.drop_table('hot_spots')
    op.drop_table('board_snapshots')
