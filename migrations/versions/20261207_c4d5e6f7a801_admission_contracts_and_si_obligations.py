"""admission, contracts and SI obligations

Applications with their documents and the reviewer's checklist, contracts, exit bans (R-EXIT-03), and
the SI obligations: interface contacts, change notices, requested reports, publicity filings (issue 10).

Revision ID: c4d5e6f7a801
Revises: a3fad4b92b0c
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openability.kernel.db

revision: str = "c4d5e6f7a801"
down_revision: str | None = "a3fad4b92b0c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exit_bans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("credit_code", sa.String(length=40), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("business_category", sa.String(length=80), nullable=True),
        sa.Column("partner_id", sa.String(length=40), nullable=True),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exit_bans")),
    )
    with op.batch_alter_table("exit_bans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exit_bans_credit_code"), ["credit_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_exit_bans_until"), ["until"], unique=False)

    op.create_table(
        "admission_applications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "draft",
                "submitted",
                "underReview",
                "approved",
                "rejected",
                "returned",
                "contracted",
                "active",
                "withdrawn",
                name="applicationstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("credit_code", sa.String(length=40), nullable=True),
        sa.Column("registered_capital", openability.kernel.db.Money(), nullable=True),
        sa.Column("legal_representative", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("product_kind", sa.String(length=20), nullable=False),
        sa.Column("industry", sa.String(length=60), nullable=True),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("intended_products", sa.JSON(), nullable=False),
        sa.Column("billing_mode", sa.String(length=20), nullable=False),
        sa.Column("needs_resource_authorization", sa.Boolean(), nullable=False),
        sa.Column("local_customer_resources", sa.Text(), nullable=False),
        sa.Column("local_promotion_resources", sa.Text(), nullable=False),
        sa.Column("reviewer_id", sa.String(length=80), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("activated_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_admission_applications_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admission_applications")),
    )
    with op.batch_alter_table("admission_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_admission_applications_partner_id"), ["partner_id"], unique=False
        )
        batch_op.create_index("ix_admission_applications_queue", ["state", "submitted_at"], unique=False)

    op.create_table(
        "admission_documents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("owner_type", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "business_licence",
                "bank_account_permit",
                "tax_registration",
                "org_code_certificate",
                "business_plan",
                "resource_authorization",
                "local_customer_evidence",
                "local_promotion_evidence",
                name="documentkind",
                native_enum=False,
            ),
            nullable=True,
        ),
        sa.Column("number", sa.String(length=80), nullable=False),
        sa.Column("issuer", sa.String(length=120), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by_type", sa.String(length=20), nullable=False),
        sa.Column("uploaded_by_id", sa.String(length=80), nullable=False),
        sa.Column("created_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_admission_documents_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admission_documents")),
    )
    with op.batch_alter_table("admission_documents", schema=None) as batch_op:
        batch_op.create_index("ix_admission_documents_owner", ["owner_type", "owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_admission_documents_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_admission_documents_valid_to"), ["valid_to"], unique=False)

    op.create_table(
        "si_change_notices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("effective_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("filed_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("filed_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_si_change_notices_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_si_change_notices")),
    )
    with op.batch_alter_table("si_change_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_si_change_notices_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "si_interface_contacts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("effective_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("filed_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("filed_by", sa.String(length=80), nullable=False),
        sa.Column("handover_note", sa.Text(), nullable=False),
        sa.Column("handover_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handover_by", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_si_interface_contacts_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_si_interface_contacts")),
    )
    with op.batch_alter_table("si_interface_contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_si_interface_contacts_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "si_publicity_filings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("filed_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("filed_by", sa.String(length=80), nullable=False),
        sa.Column("decided_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_si_publicity_filings_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_si_publicity_filings")),
    )
    with op.batch_alter_table("si_publicity_filings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_si_publicity_filings_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "si_report_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("due_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recurrence_months", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_by", sa.String(length=80), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("overdue_noticed_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_requested", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_si_report_requests_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_si_report_requests")),
    )
    with op.batch_alter_table("si_report_requests", schema=None) as batch_op:
        batch_op.create_index("ix_si_report_requests_due", ["state", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_si_report_requests_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "admission_checklist",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column(
            "item",
            sa.Enum(
                "compliance",
                "industry_expertise",
                "service_system",
                name="checklistitem",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("reviewer_id", sa.String(length=80), nullable=False),
        sa.Column("reviewer_name", sa.String(length=100), nullable=False),
        sa.Column("at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["admission_applications.id"],
            name=op.f("fk_admission_checklist_application_id_admission_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admission_checklist")),
    )
    with op.batch_alter_table("admission_checklist", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_admission_checklist_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "admission_contracts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=60), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "signed",
                "inForce",
                "superseded",
                "terminated",
                name="contractstate",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("product_kind", sa.String(length=20), nullable=False),
        sa.Column("industry", sa.String(length=60), nullable=True),
        sa.Column("billing_mode", sa.String(length=20), nullable=False),
        sa.Column("price_band", sa.String(length=20), nullable=False),
        sa.Column("deposit", openability.kernel.db.Money(), nullable=False),
        sa.Column("agreed_payment", openability.kernel.db.Money(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("renewed_from_id", sa.String(length=40), nullable=True),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activated_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", openability.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["admission_applications.id"],
            name=op.f("fk_admission_contracts_application_id_admission_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_admission_contracts_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admission_contracts")),
        sa.UniqueConstraint("number", name=op.f("uq_admission_contracts_number")),
    )
    with op.batch_alter_table("admission_contracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_admission_contracts_application_id"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_admission_contracts_partner_id"), ["partner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("admission_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admission_contracts_partner_id"))
        batch_op.drop_index(batch_op.f("ix_admission_contracts_application_id"))

    op.drop_table("admission_contracts")
    with op.batch_alter_table("admission_checklist", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admission_checklist_application_id"))

    op.drop_table("admission_checklist")
    with op.batch_alter_table("si_report_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_si_report_requests_partner_id"))
        batch_op.drop_index("ix_si_report_requests_due")

    op.drop_table("si_report_requests")
    with op.batch_alter_table("si_publicity_filings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_si_publicity_filings_partner_id"))

    op.drop_table("si_publicity_filings")
    with op.batch_alter_table("si_interface_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_si_interface_contacts_partner_id"))

    op.drop_table("si_interface_contacts")
    with op.batch_alter_table("si_change_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_si_change_notices_partner_id"))

    op.drop_table("si_change_notices")
    with op.batch_alter_table("admission_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_admission_documents_valid_to"))
        batch_op.drop_index(batch_op.f("ix_admission_documents_partner_id"))
        batch_op.drop_index("ix_admission_documents_owner")

    op.drop_table("admission_documents")
    with op.batch_alter_table("admission_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_admission_applications_queue")
        batch_op.drop_index(batch_op.f("ix_admission_applications_partner_id"))

    op.drop_table("admission_applications")
    with op.batch_alter_table("exit_bans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exit_bans_until"))
        batch_op.drop_index(batch_op.f("ix_exit_bans_credit_code"))

    op.drop_table("exit_bans")
