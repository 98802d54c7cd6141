"""data versions bumped by triggers: the queue's drop-down lists cached per version (issue 16)

Revision ID: 0029_data_versions
Revises: 0028_ticket_due_index
Create Date: 2026-11-30 20:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0029_data_versions'
down_revision = '0028_ticket_due_index'
branch_labels = None
depends_on = None

# the version name and the tables whose every change bumps it (app/services/refdata.py)
WATCHED = {"reference": ("directions", "institutions", "categories")}


def upgrade():
    op.create_table(
        'data_versions',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # one bump per statement (COPY and multi-row statements included), in the writer's transaction; the new
        # number comes from a sequence, which a rollback never gives back: a version number is never used twice
        # (a memo entry made inside a transaction that rolled back can never match a committed version)
        op.execute("CREATE SEQUENCE data_version_seq")
        op.execute("""
            CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              INSERT INTO data_versions (name, version) VALUES (TG_ARGV[0], nextval('data_version_seq'))
                ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version;
              RETURN NULL;
            END $$""")
    for name, tables in WATCHED.items():
        first = "nextval('data_version_seq')" if postgres else "1"
        op.execute(sa.text(f"INSERT INTO data_versions (name, version) VALUES (:n, {first})").bindparams(n=name))
        for table in tables:
            if postgres:
                op.execute(f"CREATE TRIGGER {table}_bump_{name} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                           f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version('{name}')")
            else:  # SQLite: row triggers only
                for op_name in ("INSERT", "UPDATE", "DELETE"):
                    # no sequences: a random step, so a number given back by a rollback is (almost surely) not
                    # given again
                    op.execute(f"CREATE TRIGGER {table}_bump_{name}_{op_name.lower()} AFTER {op_name} ON {table} "
                               f"BEGIN UPDATE data_versions SET version = version + 1 + abs(random() % 1000000000) "
                               f"WHERE name = '{name}'; END")


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, tables in WATCHED.items():
        for table in tables:
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_{name} ON {table}")
            else:
                for op_name in ("insert", "update", "delete"):
                    op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_{name}_{op_name}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS bump_data_version()")
        op.execute("DROP SEQUENCE IF EXISTS data_version_seq")
    op.drop_table('data_versions')
