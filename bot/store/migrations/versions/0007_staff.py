"""staff: console accounts' email for digests, single sign-on subject, last sign-in;
personal API tokens (hashed); the audit log searchable by actor and action; the moderation
queue ordered by its worst score and filtered by label

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(320), server_default="", nullable=False))
        batch_op.add_column(sa.Column("oidc_subject", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("last_sign_in_at", _WHEN, nullable=True))
        batch_op.create_unique_constraint("uq_staff_users_oidc_subject", ["oidc_subject"])
    op.create_table(
        "staff_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("last_used_at", _WHEN, nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name="fk_staff_tokens_user_id_staff_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_staff_tokens_token_hash"),
    )
    op.create_index("ix_staff_tokens_user_id", "staff_tokens", ["user_id"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    with op.batch_alter_table("moderation_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worst", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("label_keys", sa.String(200), server_default="", nullable=False)
        )
        batch_op.create_index("ix_moderation_items_status_message", ["status", "message_id"])
        batch_op.create_index("ix_moderation_items_status_worst", ["status", "worst", "message_id"])
    _backfill_moderation_items()


def _backfill_moderation_items() -> None:
    """Items held before this revision: their worst score and label keys from their JSON."""
    items = sa.table(
        "moderation_items",
        sa.column("id", _ID),
        sa.column("scores", sa.Text()),
        sa.column("labels", sa.Text()),
        sa.column("worst", sa.Float()),
        sa.column("label_keys", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(items.c.id, sa.cast(items.c.scores, sa.Text), sa.cast(items.c.labels, sa.Text))
    ).all()
    for item_id, scores_json, labels_json in rows:
        scores, labels = json.loads(scores_json or "{}"), json.loads(labels_json or "[]")
        worst = max((float(scores.get(label, 0.0)) for label in labels), default=0.0)
        keys = "," + ",".join(labels) + "," if labels else ""
        bind.execute(
            items.update().where(items.c.id == item_id).values(worst=worst, label_keys=keys[:200])
        )


def downgrade() -> None:
    with op.batch_alter_table("moderation_items", schema=None) as batch_op:
        batch_op.drop_index("ix_moderation_items_status_worst")
        batch_op.drop_index("ix_moderation_items_status_message")
        batch_op.drop_column("label_keys")
        batch_op.drop_column("worst")
    op.drop_index("ix_audit_log_action_at", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_at", table_name="audit_log")
    op.drop_index("ix_staff_tokens_user_id", table_name="staff_tokens")
    op.drop_table("staff_tokens")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_staff_users_oidc_subject", type_="unique")
        batch_op.drop_column("last_sign_in_at")
        batch_op.drop_column("oidc_subject")
        batch_op.drop_column("email")
