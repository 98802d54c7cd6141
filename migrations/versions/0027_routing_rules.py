"""routing rules: an admin's explicit override of the learned router for named cases (issue 15)

Revision ID: 0027_routing_rules
Revises: 0026_route_suggestion
Create Date: 2026-11-30 18:45:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0027_routing_rules'
down_revision = '0026_route_suggestion'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'routing_rules',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('pattern', sa.Text(), nullable=False),
        sa.Column('category_id', sa.Integer(), nullable=True),
        sa.Column('institution_id', sa.Integer(), nullable=True),
        sa.Column('is_active', sa.Boolean(), nullable=False, server_default=sa.text('true')),
        sa.Column('note', sa.Text(), nullable=False, server_default=''),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['category_id'], ['categories.id'], ondelete='CASCADE',
                                name='fk_routing_rules_category_id_categories'),
        sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], ondelete='CASCADE',
                                name='fk_routing_rules_institution_id_institutions'),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], ondelete='SET NULL',
                                name='fk_routing_rules_created_by_id_users'),
        sa.CheckConstraint('category_id IS NOT NULL OR institution_id IS NOT NULL', name='ck_routing_rules_target'),
    )


def downgrade():
    op.drop_table('routing_rules')
