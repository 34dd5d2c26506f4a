"""PyLTI1p3's tool configuration, read from the database.

Registrations, deployments and the tool's keys are rows (``Registration``, ``Deployment``,
``ToolKey``), so every process and host sees the same ones. One issuer may have many
client ids (Canvas): registrations are always found by issuer *and* client id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pylti1p3.deployment import Deployment as LtiDeployment
from pylti1p3.registration import Registration as LtiRegistration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.persistence.models import Deployment, Registration

if TYPE_CHECKING:
    from lti_tool.lti.keys import Keyring


class ToolRegistration(LtiRegistration):
    """A pylti1p3 registration that signs with the Keyring's current key.

    ``get_tool_private_key`` returns the loaded key object rather than a PEM string: PyJWT
    accepts either, and a loaded key saves parsing the PEM on every signature (~37 ms).
    ``get_kid`` names that key as published in ``/lti/jwks`` (pylti1p3 would compute a
    thumbprint instead, which platforms would not find).
    """

    def __init__(self, row: Registration, keyring: Keyring, session: Session) -> None:
        super().__init__()
        self.row = row
        self._keyring = keyring
        self._session = session
        self._signing_key = None
        self.set_issuer(row.issuer)
        self.set_client_id(row.client_id)
        self.set_auth_login_url(row.auth_login_url)
        self.set_auth_token_url(row.auth_token_url)
        self.set_key_set_url(row.key_set_url)
        if row.token_audience:
            self.set_auth_audience(row.token_audience)

    def _key(self):
        if self._signing_key is None:
            self._signing_key = self._keyring.signing_key(self._session)
        return self._signing_key

    def get_tool_private_key(self) -> Any:  # type: ignore[override]
        return self._key().private_key

    def get_kid(self) -> str | None:
        return self._key().kid

    def get_jwks(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return list(self._keyring.jwks(self._session)["keys"])


class DatabaseToolConf(ToolConfAbstract):
    """Registrations and deployments from the database; keys from the Keyring."""

    def __init__(self, session: Session, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        # pylti1p3 keeps this mapping on the class; ours must not leak between instances.
        self.issuers_relation_types = {}

    # Every issuer is looked up with its client id (the "many client ids" relation).
    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    # -- model rows -------------------------------------------------------------------
    def registration_row(self, iss: str, client_id: str) -> Registration | None:
        """The registration of ``iss`` and ``client_id`` (enabled or not), or None."""
        return self.session.scalars(
            select(Registration).where(Registration.issuer == iss,
                                       Registration.client_id == client_id)
        ).first()

    def registrations_of_issuer(self, iss: str) -> list[Registration]:
        """Every registration (enabled or not) of ``iss``, oldest first."""
        return list(self.session.scalars(
            select(Registration).where(Registration.issuer == iss).order_by(Registration.id)
        ))

    def deployment_row(self, registration: Registration, deployment_id: str) -> Deployment | None:
        """The recorded deployment ``deployment_id`` of ``registration``, or None."""
        return self.session.scalars(
            select(Deployment).where(Deployment.registration_id == registration.id,
                                     Deployment.deployment_id == deployment_id)
        ).first()

    def registration(self, row: Registration) -> ToolRegistration:
        """The pylti1p3 registration for ``row`` (for deep linking and service calls)."""
        return ToolRegistration(row, self.keyring, self.session)

    # -- ToolConfAbstract -------------------------------------------------------------
    def find_registration_by_issuer(self, iss: str, *args, **kwargs) -> ToolRegistration | None:
        """The registration of ``iss`` when it has exactly one enabled; else None."""
        rows = [row for row in self.registrations_of_issuer(iss) if row.enabled]
        return self.registration(rows[0]) if len(rows) == 1 else None

    def find_registration_by_params(self, iss: str, client_id: str, *args,
                                    **kwargs) -> ToolRegistration | None:
        """The enabled registration of ``iss`` and ``client_id``, or None."""
        row = self.registration_row(iss, client_id)
        if row is None or not row.enabled:
            return None
        return self.registration(row)

    def find_deployment(self, iss: str, deployment_id: str) -> LtiDeployment | None:
        rows = [row for row in self.registrations_of_issuer(iss) if row.enabled]
        if len(rows) != 1:
            return None
        return self.find_deployment_by_params(iss, deployment_id, rows[0].client_id)

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str,
                                  *args, **kwargs) -> LtiDeployment | None:
        """The *active* deployment ``deployment_id`` of an enabled registration, or None."""
        row = self.registration_row(iss, client_id)
        if row is None or not row.enabled:
            return None
        deployment = self.deployment_row(row, deployment_id)
        if deployment is None or not deployment.active:
            return None
        return LtiDeployment().set_deployment_id(deployment.deployment_id)

    def get_jwks(self, iss: str | None = None, client_id: str | None = None,
                 **kwargs) -> dict[str, list[dict[str, Any]]]:
        """The tool's public keys: every key not yet retired (the same for all platforms)."""
        return self.keyring.jwks(self.session)
