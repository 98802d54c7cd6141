"""calendar: production-calendar exceptions (short pre-holiday days), per-institution business hours

Revision ID: 0004_calendar
Revises: 0003_intake

"""
from datetime import date

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004_calendar'
down_revision = '0003_intake'
branch_labels = None
depends_on = None

# What `holidays` RU does not model: pre-holiday days shortened by one hour (art. 95 of the Labour Code).
# Days off and transferred working days come from `holidays` (it follows the same decrees).
_SRC_2025 = "Постановление Правительства РФ от 04.09.2024 № 1335; ст. 95 ТК РФ"
_SRC_2026 = "Постановление Правительства РФ от 24.09.2025 № 1466; ст. 95 ТК РФ"
_SRC_2027 = "ст. 95 ТК РФ; переносы 2027 г. — по holidays 0.109 (consultant.ru, cons_doc_LAW_544706)"
SEED = [
    (date(2025, 3, 7), "short", "Предпраздничный день (8 марта)", _SRC_2025),
    (date(2025, 4, 30), "short", "Предпраздничный день (1 мая)", _SRC_2025),
    (date(2025, 6, 11), "short", "Предпраздничный день (12 июня)", _SRC_2025),
    (date(2025, 11, 1), "short", "Предпраздничный день, рабочая суббота (4 ноября)", _SRC_2025),
    (date(2026, 4, 30), "short", "Предпраздничный день (1 мая)", _SRC_2026),
    (date(2026, 5, 8), "short", "Предпраздничный день (9 мая)", _SRC_2026),
    (date(2026, 6, 11), "short", "Предпраздничный день (12 июня)", _SRC_2026),
    (date(2026, 11, 3), "short", "Предпраздничный день (4 ноября)", _SRC_2026),
    (date(2027, 2, 20), "short", "Предпраздничный день, рабочая суббота (23 февраля)", _SRC_2027),
    (date(2027, 4, 30), "short", "Предпраздничный день (1 мая)", _SRC_2027),
    (date(2027, 6, 11), "short", "Предпраздничный день (12 июня)", _SRC_2027),
    (date(2027, 11, 3), "short", "Предпраздничный день (4 ноября)", _SRC_2027),
]


def upgrade():
    calendar_days = op.create_table('calendar_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_days')),
    sa.UniqueConstraint('date', name=op.f('uq_calendar_days_date'))
    )
    op.bulk_insert(calendar_days, [dict(date=d, kind=k, note=n, source=s) for d, k, n, s in SEED])

    # NULL: the city default (BUSINESS_HOURS); "24x7": round the clock
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('business_hours', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.drop_column('business_hours')

    op.drop_table('calendar_days')
