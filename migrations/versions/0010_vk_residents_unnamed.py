"""VK residents stored as «id<N>» (before names were fetched) become unnamed, so the names job asks VK for them

Revision ID: 0010_vk_residents_unnamed
Revises: 0009_board_reopened_index
Create Date: 2026-11-23 12:30:00

"""
from alembic import op

revision = '0010_vk_residents_unnamed'
down_revision = '0009_board_reopened_index'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE residents SET display_name = '' "
               "WHERE network = 'vk' AND display_name = 'id' || external_id")


def downgrade():
    op.execute("UPDATE residents SET display_name = 'id' || external_id "
               "WHERE network = 'vk' AND display_name = ''")
