"""accounts.email_key: the normalised email identity, unique

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(email: str) -> str:
    # A frozen copy of imagine.accounts.emails.email_key as of this revision (NFKC_Casefold):
    # a migration must keep computing what it computed when it was written.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_key", sa.String(length=320), nullable=True))

    # Backfill. Accounts whose addresses fold to one identity ("Émile@x" and "émile@x") were
    # the bug this column fixes; which of them an admin meant cannot be guessed, so refuse
    # to upgrade and name them rather than keep handing keys and credits to the wrong one.
    accounts = sa.table(
        "accounts",
        sa.column("id", sa.String),
        sa.column("email", sa.String),
        sa.column("email_key", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(accounts.c.id, accounts.c.email).order_by(accounts.c.id)).all()
    by_key: dict[str, list[tuple[str, str]]] = {}
    for account_id, email in rows:
        by_key.setdefault(_key(email), []).append((account_id, email))
    clashes = {k: v for k, v in by_key.items() if len(v) > 1}
    if clashes:
        listed = "; ".join(
            ", ".join(f"{email!r} (id {account_id})" for account_id, email in group)
            for group in clashes.values()
        )
        raise RuntimeError(
            "these accounts have email addresses that differ only in case or Unicode form, "
            f"so no lookup by email can tell them apart: {listed}. Give all but one of each "
            "group another address in the accounts table, then upgrade again."
        )
    for key, [(account_id, _)] in by_key.items():
        conn.execute(accounts.update().where(accounts.c.id == account_id).values(email_key=key))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column("email_key", existing_type=sa.String(length=320), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_accounts_email_key"), ["email_key"])


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_accounts_email_key"), type_="unique")
        batch_op.drop_column("email_key")
