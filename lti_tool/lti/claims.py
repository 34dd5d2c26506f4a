"""The id_token claims the tool reads: their names, their types, and a parsed object.

``parse_claims(body)`` checks every claim the tool uses with a marshmallow schema and
returns a ``LaunchClaims``; a missing or ill-typed claim raises ``ClaimsError`` naming it.
The signature, audience, times and nonce are checked before this, in ``launch.py``.
No Flask and no database here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_VERSION = "1.3.0"
# Longest identifier the database keeps (sub, context id, resource link id, deployment id).
MAX_ID_LENGTH = 255
MISSING = "missing"


class Claim(StrEnum):
    """Names of the id_token claims the tool reads."""

    ISSUER = "iss"
    SUBJECT = "sub"
    AUDIENCE = "aud"
    AUTHORIZED_PARTY = "azp"
    NONCE = "nonce"
    NAME = "name"
    GIVEN_NAME = "given_name"
    FAMILY_NAME = "family_name"
    EMAIL = "email"
    MESSAGE_TYPE = LTI + "message_type"
    VERSION = LTI + "version"
    DEPLOYMENT_ID = LTI + "deployment_id"
    TARGET_LINK_URI = LTI + "target_link_uri"
    ROLES = LTI + "roles"
    ROLE_SCOPE_MENTOR = LTI + "role_scope_mentor"
    RESOURCE_LINK = LTI + "resource_link"
    CONTEXT = LTI + "context"
    CUSTOM = LTI + "custom"
    LAUNCH_PRESENTATION = LTI + "launch_presentation"
    TOOL_PLATFORM = LTI + "tool_platform"
    LIS = LTI + "lis"
    AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
    NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
    DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
    # Canvas names the placement a launch came from (course_navigation, link_selection...).
    CANVAS_PLACEMENT = "https://www.instructure.com/placement"


class MessageType(StrEnum):
    """The LTI messages the tool answers."""

    RESOURCE_LINK = "LtiResourceLinkRequest"
    DEEP_LINKING = "LtiDeepLinkingRequest"


def short_claim_name(path: str) -> str:
    """A readable name for a claim path (``resource_link.id`` rather than its full URI)."""
    for prefix in (LTI, "https://purl.imsglobal.org/spec/lti-ags/claim/",
                   "https://purl.imsglobal.org/spec/lti-nrps/claim/",
                   "https://purl.imsglobal.org/spec/lti-dl/claim/"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


class ClaimsError(Exception):
    """A claim the tool needs is missing (``missing=True``) or has the wrong type."""

    def __init__(self, claim: str, missing: bool, reason: str = "") -> None:
        super().__init__(f"{claim}: {'missing' if missing else reason or 'invalid'}")
        self.claim = claim
        self.missing = missing
        self.reason = reason


class UnsupportedMessageType(ClaimsError):
    """A well-formed launch of a kind the tool does not answer."""

    def __init__(self, message_type: str) -> None:
        super().__init__("message_type", False, "unsupported")
        self.message_type = message_type


def _web_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValidationError("not an http(s) URL")


def _id(**kwargs: Any) -> fields.String:
    # An empty identifier is as good as none: report it as missing.
    return fields.String(validate=[validate.Length(min=1, error=MISSING),
                                   validate.Length(max=MAX_ID_LENGTH)],
                         error_messages={"required": MISSING}, **kwargs)


def _text(**kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, load_default=None, **kwargs)


def _url(**kwargs: Any) -> fields.String:
    return fields.String(validate=_web_url, error_messages={"required": MISSING}, **kwargs)


def _strings(**kwargs: Any) -> fields.List:
    return fields.List(fields.String(), error_messages={"required": MISSING}, **kwargs)


class _Part(Schema):
    class Meta:
        unknown = EXCLUDE


class ResourceLinkSchema(_Part):
    id = _id(required=True)
    title = _text()
    description = _text()


class ContextSchema(_Part):
    id = _id(required=True)
    label = _text()
    title = _text()
    type = _strings(load_default=list)


class AgsSchema(_Part):
    scope = _strings(load_default=list)
    lineitems = _url(allow_none=True, load_default=None)
    lineitem = _url(allow_none=True, load_default=None)


class NrpsSchema(_Part):
    context_memberships_url = _url(required=True)
    service_versions = _strings(load_default=list)


class DeepLinkingSettingsSchema(_Part):
    deep_link_return_url = _url(required=True)
    accept_types = _strings(required=True)
    accept_presentation_document_targets = _strings(required=True)
    accept_media_types = _text()
    accept_multiple = fields.Boolean(allow_none=True, load_default=None)
    accept_lineitem = fields.Boolean(allow_none=True, load_default=None)
    auto_create = fields.Boolean(allow_none=True, load_default=None)
    title = _text()
    text = _text()
    # Opaque to the tool: echoed back exactly as the platform sent it.
    data = fields.Raw(allow_none=True, load_default=None)


class LaunchPresentationSchema(_Part):
    document_target = _text()
    return_url = _text()
    locale = _text()


class ToolPlatformSchema(_Part):
    guid = _text()
    name = _text()
    product_family_code = _text()
    version = _text()


class LaunchClaimsSchema(_Part):
    """The id_token body as the tool reads it (after the signature was checked)."""

    issuer = fields.String(data_key=Claim.ISSUER, required=True,
                           error_messages={"required": MISSING})
    subject = _id(data_key=Claim.SUBJECT, required=True)
    message_type = fields.String(data_key=Claim.MESSAGE_TYPE, required=True,
                                 error_messages={"required": MISSING})
    version = fields.String(data_key=Claim.VERSION, required=True,
                            validate=validate.Equal(LTI_VERSION, error="expected 1.3.0"),
                            error_messages={"required": MISSING})
    deployment_id = _id(data_key=Claim.DEPLOYMENT_ID, required=True)
    roles = _strings(data_key=Claim.ROLES, required=True)
    target_link_uri = _text(data_key=Claim.TARGET_LINK_URI)
    name = _text(data_key=Claim.NAME)
    given_name = _text(data_key=Claim.GIVEN_NAME)
    family_name = _text(data_key=Claim.FAMILY_NAME)
    email = _text(data_key=Claim.EMAIL)
    resource_link = fields.Nested(ResourceLinkSchema, data_key=Claim.RESOURCE_LINK,
                                  allow_none=True, load_default=None)
    context = fields.Nested(ContextSchema, data_key=Claim.CONTEXT, allow_none=True,
                            load_default=None)
    custom = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True),
                         data_key=Claim.CUSTOM, allow_none=True, load_default=None)
    role_scope_mentor = _strings(data_key=Claim.ROLE_SCOPE_MENTOR, allow_none=True,
                                 load_default=None)
    launch_presentation = fields.Nested(LaunchPresentationSchema,
                                        data_key=Claim.LAUNCH_PRESENTATION, allow_none=True,
                                        load_default=None)
    tool_platform = fields.Nested(ToolPlatformSchema, data_key=Claim.TOOL_PLATFORM,
                                  allow_none=True, load_default=None)
    ags = fields.Nested(AgsSchema, data_key=Claim.AGS_ENDPOINT, allow_none=True,
                        load_default=None)
    nrps = fields.Nested(NrpsSchema, data_key=Claim.NRPS, allow_none=True, load_default=None)
    deep_linking_settings = fields.Nested(DeepLinkingSettingsSchema,
                                          data_key=Claim.DEEP_LINKING_SETTINGS,
                                          allow_none=True, load_default=None)
    canvas_placement = _text(data_key=Claim.CANVAS_PLACEMENT)

    @validates_schema(skip_on_field_errors=True)
    def _message_specific(self, data: dict[str, Any], **kwargs: Any) -> None:
        message_type = data["message_type"]
        if message_type == MessageType.RESOURCE_LINK and not data.get("resource_link"):
            raise ValidationError({Claim.RESOURCE_LINK.value: {"id": [MISSING]}})
        if message_type == MessageType.DEEP_LINKING:
            settings = data.get("deep_linking_settings")
            if not settings:
                raise ValidationError({Claim.DEEP_LINKING_SETTINGS.value: [MISSING]})
            if "ltiResourceLink" not in settings["accept_types"]:
                # The only thing this tool can place is an LTI resource link.
                raise ValidationError({Claim.DEEP_LINKING_SETTINGS.value: {
                    "accept_types": ["does not accept ltiResourceLink"]}})

    @post_load
    def _make(self, data: dict[str, Any], **kwargs: Any) -> LaunchClaims:
        return LaunchClaims(
            issuer=data["issuer"],
            subject=data["subject"],
            message_type=data["message_type"],
            deployment_id=data["deployment_id"],
            roles=tuple(data["roles"]),
            target_link_uri=data["target_link_uri"],
            name=data["name"],
            given_name=data["given_name"],
            family_name=data["family_name"],
            email=data["email"],
            resource_link=_part(ResourceLinkClaim, data["resource_link"]),
            context=_part(ContextClaim, data["context"], type=tuple),
            custom=dict(data["custom"] or {}),
            role_scope_mentor=tuple(data["role_scope_mentor"] or ()),
            launch_presentation=dict(data["launch_presentation"] or {}),
            tool_platform=dict(data["tool_platform"] or {}),
            ags=_part(AgsClaim, data["ags"], scope=tuple),
            nrps=_part(NrpsClaim, data["nrps"], service_versions=tuple),
            deep_linking_settings=data["deep_linking_settings"],
            canvas_placement=data["canvas_placement"],
        )


def _part(cls: type, values: dict[str, Any] | None, **converters: Any) -> Any:
    if values is None:
        return None
    return cls(**{key: converters[key](value) if key in converters else value
                  for key, value in values.items()})


@dataclass(frozen=True)
class ResourceLinkClaim:
    id: str
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class ContextClaim:
    id: str
    label: str | None = None
    title: str | None = None
    type: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgsClaim:
    """Assignment and Grade Services: the line item(s) and the scopes granted."""

    scope: tuple[str, ...] = ()
    lineitems: str | None = None
    lineitem: str | None = None


@dataclass(frozen=True)
class NrpsClaim:
    context_memberships_url: str
    service_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class LaunchClaims:
    """What a verified launch says, typed; built only by ``parse_claims``."""

    issuer: str
    subject: str
    message_type: str
    deployment_id: str
    roles: tuple[str, ...]
    target_link_uri: str | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    resource_link: ResourceLinkClaim | None = None
    context: ContextClaim | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    role_scope_mentor: tuple[str, ...] = ()
    launch_presentation: dict[str, Any] = field(default_factory=dict)
    tool_platform: dict[str, Any] = field(default_factory=dict)
    ags: AgsClaim | None = None
    nrps: NrpsClaim | None = None
    deep_linking_settings: dict[str, Any] | None = None
    canvas_placement: str | None = None

    @property
    def placement(self) -> str | None:
        """Where in the platform the launch came from: Canvas's placement claim, else a
        ``placement`` query parameter of the target link URI (set per placement in the
        tool's configuration)."""
        if self.canvas_placement:
            return self.canvas_placement
        if self.target_link_uri:
            values = parse_qs(urlsplit(self.target_link_uri).query).get("placement")
            if values:
                return values[0]
        return None

    @property
    def is_deep_linking(self) -> bool:
        return self.message_type == MessageType.DEEP_LINKING

    @property
    def return_url(self) -> str | None:
        """Where the platform wants the user sent back (``launch_presentation.return_url``)."""
        url = self.launch_presentation.get("return_url")
        if not url:
            return None
        try:
            _web_url(url)
        except ValidationError:
            return None
        return url

    def session_claims(self) -> dict[str, Any]:
        """The claims later pages need, as JSON for ``LaunchSession.claims``.

        Keys: ``target_link_uri``, ``resource_link``, ``context``, ``custom``, ``ags``,
        ``nrps``, ``deep_linking_settings``, ``role_scope_mentor``, ``return_url``,
        ``locale``, ``document_target``, ``tool_platform``, ``placement``.
        """
        def plain(part: Any) -> dict[str, Any] | None:
            if part is None:
                return None
            return {key: list(value) if isinstance(value, tuple) else value
                    for key, value in vars(part).items()}

        return {
            "target_link_uri": self.target_link_uri,
            "resource_link": plain(self.resource_link),
            "context": plain(self.context),
            "custom": dict(self.custom),
            "ags": plain(self.ags),
            "nrps": plain(self.nrps),
            "deep_linking_settings": self.deep_linking_settings,
            "role_scope_mentor": list(self.role_scope_mentor),
            "return_url": self.return_url,
            "locale": self.launch_presentation.get("locale"),
            "document_target": self.launch_presentation.get("document_target"),
            "tool_platform": dict(self.tool_platform),
            "placement": self.placement,
        }


_SCHEMA = LaunchClaimsSchema()


def _first_error(messages: Any, path: tuple[str, ...] = ()) -> tuple[str, bool, str]:
    """The first failing claim in marshmallow's nested messages: (path, missing, reason)."""
    if isinstance(messages, dict):
        for key in sorted(messages, key=str):
            # "_schema" holds errors about the claim as a whole (not an object, say).
            step = () if key == "_schema" else (str(key),)
            return _first_error(messages[key], (*path, *step))
    if isinstance(messages, list) and messages:
        first = messages[0]
        if isinstance(first, (dict, list)):
            return _first_error(first, path)
        return ".".join(short_claim_name(p) for p in path), first == MISSING, str(first)
    return ".".join(short_claim_name(p) for p in path), False, str(messages)


def parse_claims(body: dict[str, Any]) -> LaunchClaims:
    """Check and type the claims of a verified id_token body.

    Raises ``ClaimsError`` naming the first missing or ill-typed claim, and
    ``UnsupportedMessageType`` for a message the tool does not answer (``MessageType``).
    A resource link launch needs its ``resource_link.id``; a deep linking request, its
    settings accepting ``ltiResourceLink``.
    """
    if not isinstance(body, dict):
        raise ClaimsError("id_token", False, "not a JSON object")
    try:
        claims = _SCHEMA.load(body)
    except ValidationError as error:
        claim, missing, reason = _first_error(error.messages)
        raise ClaimsError(claim, missing, reason) from None
    if claims.message_type not in _SUPPORTED:
        raise UnsupportedMessageType(claims.message_type)
    return claims


_SUPPORTED = frozenset(m.value for m in MessageType)
