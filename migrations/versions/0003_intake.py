"""intake: reply address, edits, noise, commands, rejections, outbox retries

Revision ID: 0003_intake
Revises: 0002_ticket_search_trgm

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_intake'
down_revision = '0002_ticket_search_trgm'
branch_labels = None
depends_on = None


def upgrade():
    # merged duplicates are looked up from the main ticket (its timeline shows their messages)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tickets_duplicate_of_id'), ['duplicate_of_id'], unique=False)
    # triage joins a message to the resident's open ticket on the same thread
    op.create_index('ix_messages_resident_thread', 'messages', ['resident_id', 'thread_key'], unique=False)
    op.create_index('ix_messages_thread', 'messages', ['thread_key', 'id'], unique=False)
    op.create_index('ix_messages_network_received', 'messages', ['network', 'received_at'], unique=False)

    op.create_table('intake_rejections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('network', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_rejections'))
    )
    with op.batch_alter_table('intake_rejections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_rejections_received_at'), ['received_at'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_address', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
        batch_op.add_column(sa.Column('edit_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('noise_reason', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('command', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('command_arg', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_messages_untriaged', ['id'], unique=False, postgresql_where=sa.text('triaged_at IS NULL'), sqlite_where=sa.text('triaged_at IS NULL'))
        batch_op.create_foreign_key(batch_op.f('fk_messages_edit_of_id_messages'), 'messages', ['edit_of_id'], ['id'])

    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('ticket_id',
               existing_type=sa.INTEGER(),
               nullable=True)

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preferred_institution_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_residents_preferred_institution_id_institutions'), 'institutions', ['preferred_institution_id'], ['id'])

    # ### end Alembic commands ###


def downgrade():
    op.drop_index('ix_messages_network_received', table_name='messages')
    op.drop_index('ix_messages_thread', table_name='messages')
    op.drop_index('ix_messages_resident_thread', table_name='messages')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tickets_duplicate_of_id'))

    with op.batch_alter_table('residents', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_residents_preferred_institution_id_institutions'), type_='foreignkey')
        batch_op.drop_column('preferred_institution_id')

    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.alter_column('ticket_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('next_attempt_at')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_messages_edit_of_id_messages'), type_='foreignkey')
        batch_op.drop_index('ix_messages_untriaged', postgresql_where=sa.text('triaged_at IS NULL'), sqlite_where=sa.text('triaged_at IS NULL'))
        batch_op.drop_column('command_arg')
        batch_op.drop_column('command')
        batch_op.drop_column('noise_reason')
        batch_op.drop_column('edit_of_id')
        batch_op.drop_column('reply_address')

    with op.batch_alter_table('intake_rejections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_rejections_received_at'))

    op.drop_table('intake_rejections')
    # ### end Alembic commands ###
