"""Why a login or launch was refused: stable codes, HTTP statuses and plain words.

Every refusal raises ``LaunchError`` with a code from ``REFUSALS``. The view turns it into
a page that fits the LMS iframe (or JSON), one log line and a 4xx status. Messages speak to
the person in front of the LMS; ``detail`` is for the log and never holds token contents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pylti1p3.exception import LtiException

_AGAIN = "Open the activity again from your course."
_ADMIN = "If this keeps happening, tell your LMS administrator the error code below."


@dataclass(frozen=True)
class Refusal:
    """The status and the words of one kind of refusal."""

    status: int
    message: str
    hint: str | None = None


REFUSALS: dict[str, Refusal] = {
    # Login (OIDC third-party initiated login).
    "login_param_missing": Refusal(
        400, "The platform's login request is missing {param}.", _ADMIN),
    "login_target_invalid": Refusal(
        400, "The platform asked to open an address that is not this tool.", _ADMIN),
    "client_id_required": Refusal(
        400, "This platform has several registrations with the tool, and its login request "
        "did not say which one (client_id).", _ADMIN),
    "registration_unknown": Refusal(
        400, "This platform is not registered with the tool.", _ADMIN),
    "registration_disabled": Refusal(
        403, "This platform's registration with the tool is disabled.", _ADMIN),
    "relaunch_expired": Refusal(
        400, "This link to open the activity has expired or was already used.", _AGAIN),
    # Launch: the browser and the login it started.
    "launch_platform_error": Refusal(
        400, "The platform could not sign you in to the tool ({error}).", _AGAIN),
    "launch_state_invalid": Refusal(
        400, "This launch has expired, was already used, or did not start in this browser.",
        _AGAIN),
    "launch_cookie_blocked": Refusal(
        400, "Your browser did not let the tool keep track of this launch inside the course "
        "page."),
    # Launch: the id_token itself.
    "launch_token_invalid": Refusal(
        400, "The platform sent a launch the tool cannot read (not a valid JWT).", _ADMIN),
    "launch_algorithm_invalid": Refusal(
        400, "The platform signed the launch with an algorithm the tool does not accept "
        "(only RS256).", _ADMIN),
    "launch_kid_missing": Refusal(
        400, "The platform's launch does not name its signing key (kid).", _ADMIN),
    "launch_kid_unknown": Refusal(
        400, "The platform signed the launch with a key it does not publish.", _ADMIN),
    "launch_signature_invalid": Refusal(
        400, "The launch's signature does not match the platform's key.", _ADMIN),
    "platform_key_set_unavailable": Refusal(
        502, "The tool could not read the platform's public keys. Try again in a moment.",
        _ADMIN),
    "launch_issuer_invalid": Refusal(
        400, "The launch did not come from the platform that started it.", _ADMIN),
    "launch_audience_invalid": Refusal(
        400, "The launch was not meant for this tool (audience).", _ADMIN),
    "launch_expired": Refusal(400, "This launch has expired.", _AGAIN),
    "launch_time_invalid": Refusal(
        400, "The launch's issue time is not valid (check the platform's clock).", _ADMIN),
    "launch_replayed": Refusal(400, "This launch was already used.", _AGAIN),
    "launch_nonce_invalid": Refusal(
        400, "This launch does not belong to the login that started it.", _AGAIN),
    "launch_claim_missing": Refusal(
        400, "The platform's launch is missing required information ({claim}).", _ADMIN),
    "launch_claim_invalid": Refusal(
        400, "The platform's launch has information the tool cannot use ({claim}).", _ADMIN),
    "launch_message_type_unsupported": Refusal(
        400, "The tool cannot handle this kind of launch ({message_type}).", _ADMIN),
    # Launch: the registration and deployment it belongs to.
    "deployment_not_active": Refusal(
        403, "The tool is not yet active for this part of the platform (deployment "
        "{deployment_id}). An administrator must activate it first.",
        "Show this page to your LMS or tool administrator."),
}


class _Placeholders(dict):
    def __missing__(self, key: str) -> str:
        return "not given"


class LaunchError(LtiException):
    """A refused login or launch, carrying its stable ``code``.

    ``commit`` asks the request to keep its database writes even though it fails (the
    record of an unknown deployment). ``params`` fill the message's placeholders.
    """

    def __init__(self, code: str, detail: str = "", *, extra: dict[str, Any] | None = None,
                 commit: bool = False, **params: Any) -> None:
        refusal = REFUSALS[code]
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.status = refusal.status
        self.message = refusal.message.format_map(_Placeholders(params))
        self.hint = refusal.hint
        self.detail = detail
        self.extra = dict(extra or {})
        self.commit = commit
