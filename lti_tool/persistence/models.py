"""SQLAlchemy 2.0 typed models: every row the tool keeps.

Users, contexts, resource links and activities belong to a registration (issuer + client
id), never to an issuer alone: one Canvas issuer has many client ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value, dialect):
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Registration(Base):
    """A platform registration: one issuer and one client id."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("issuer", "client_id", name="uq_registration_issuer_client"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(1000))
    auth_token_url: Mapped[str] = mapped_column(String(1000))
    key_set_url: Mapped[str] = mapped_column(String(1000))
    token_audience: Mapped[str | None] = mapped_column(String(1000))
    deployment_policy: Mapped[str] = mapped_column(String(10), default="hold")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    product_family: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime]

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="registration", cascade="all, delete-orphan", order_by="Deployment.id"
    )


class Deployment(Base):
    """A deployment of a registration; unknown ones are recorded and held or accepted."""

    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("registration_id", "deployment_id", name="uq_deployment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]

    registration: Mapped[Registration] = relationship(back_populates="deployments")


class ToolKey(Base):
    """A tool signing key; the private key is encrypted at rest with the shared secret."""

    __tablename__ = "tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(100), unique=True)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class LtiUser(Base):
    __tablename__ = "lti_users"
    __table_args__ = (UniqueConstraint("registration_id", "sub", name="uq_user_sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    given_name: Mapped[str | None] = mapped_column(String(255))
    family_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime]

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.given_name, self.family_name) if p)
        return self.name or full or self.email or f"User {self.sub[:12]}"


class LtiContext(Base):
    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("registration_id", "context_id", name="uq_context"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    label: Mapped[str | None] = mapped_column(String(255))
    deployment_id: Mapped[str | None] = mapped_column(String(255))
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime]

    @property
    def display_title(self) -> str:
        return self.title or self.label or "this course"


class ResourceLink(Base):
    __tablename__ = "resource_links"
    __table_args__ = (
        UniqueConstraint("context_pk", "resource_link_id", name="uq_resource_link"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("lti_contexts.id", ondelete="CASCADE"), index=True
    )
    resource_link_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))
    ags_scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime]

    context: Mapped[LtiContext] = relationship()


class Activity(Base):
    """The stored settings of an assessment activity for one resource link."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("lti_contexts.id", ondelete="CASCADE"), index=True
    )
    resource_link_pk: Mapped[int | None] = mapped_column(
        ForeignKey("resource_links.id", ondelete="SET NULL"), unique=True
    )
    title: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict[str, Any]]
    settings_version: Mapped[int] = mapped_column(Integer, default=1)
    seeded_from: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    context: Mapped[LtiContext] = relationship()
    resource_link: Mapped[ResourceLink | None] = relationship()


class LaunchSession(Base):
    """What a verified launch established, for the pages that follow it."""

    __tablename__ = "launch_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    user_pk: Mapped[int] = mapped_column(ForeignKey("lti_users.id", ondelete="CASCADE"))
    context_pk: Mapped[int | None] = mapped_column(
        ForeignKey("lti_contexts.id", ondelete="CASCADE")
    )
    resource_link_pk: Mapped[int | None] = mapped_column(
        ForeignKey("resource_links.id", ondelete="CASCADE")
    )
    message_type: Mapped[str] = mapped_column(String(100))
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    claims: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)

    registration: Mapped[Registration] = relationship()
    user: Mapped[LtiUser] = relationship()
    context: Mapped[LtiContext | None] = relationship()
    resource_link: Mapped[ResourceLink | None] = relationship()


class EphemeralEntry(Base):
    """Short-lived state when Redis is not configured (login state, nonces, caches)."""

    __tablename__ = "ephemeral_entries"

    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RegistrationInvite(Base):
    """A single-use, expiring dynamic registration URL (its token is stored hashed)."""

    __tablename__ = "registration_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL")
    )


class Attempt(Base):
    """A learner's attempt; ``state`` is the domain attempt's JSON form."""

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("activity_pk", "user_pk", "number", name="uq_attempt_number"),
        Index("ix_attempt_activity_status", "activity_pk", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_pk: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    user_pk: Mapped[int] = mapped_column(ForeignKey("lti_users.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20))
    state: Mapped[dict[str, Any]]
    level_achieved: Mapped[int | None] = mapped_column(Integer)
    final_score_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    finalised_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}

    activity: Mapped[Activity] = relationship()
    user: Mapped[LtiUser] = relationship()


class AttemptEvent(Base):
    """Append-only history of every judgement and state change."""

    __tablename__ = "attempt_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_pk: Mapped[int] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(50))
    actor_pk: Mapped[int | None] = mapped_column(ForeignKey("lti_users.id", ondelete="SET NULL"))
    actor_name: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]]


class GradeOutbox(Base):
    """A score to send to the platform, written in the attempt change's transaction."""

    __tablename__ = "grade_outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_learner", "registration_id", "resource_link_pk", "user_sub"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE")
    )
    attempt_pk: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    activity_pk: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    resource_link_pk: Mapped[int] = mapped_column(
        ForeignKey("resource_links.id", ondelete="CASCADE")
    )
    user_pk: Mapped[int] = mapped_column(ForeignKey("lti_users.id", ondelete="CASCADE"))
    user_sub: Mapped[str] = mapped_column(String(255))
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    payload: Mapped[dict[str, Any]]
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending -> delivered | superseded | failed (needs a person) ; pending rows may be leased.
    status: Mapped[str] = mapped_column(String(20), default="pending")
    tries: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    last_error_code: Mapped[str | None] = mapped_column(String(50))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_timestamp: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class RosterMember(Base):
    """A course member as the platform's NRPS roster last listed them."""

    __tablename__ = "roster_members"
    __table_args__ = (UniqueConstraint("context_pk", "user_sub", name="uq_roster_member"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("lti_contexts.id", ondelete="CASCADE"), index=True
    )
    user_sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="Active")
    synced_at: Mapped[datetime]


class RosterSync(Base):
    """When a context's roster was asked for and last synced."""

    __tablename__ = "roster_syncs"

    context_pk: Mapped[int] = mapped_column(
        ForeignKey("lti_contexts.id", ondelete="CASCADE"), primary_key=True
    )
    requested_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
