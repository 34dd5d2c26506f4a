"""Names fixed by the 1EdTech specs: claim URIs, role URIs, scopes and media types.

Written from LTI Core 1.3, Deep Linking 2.0, AGS 2.0, NRPS 2.0 and Dynamic Registration 1.0.
"""

from __future__ import annotations

LTI_VERSION = "1.3.0"

# LTI Core 1.3 claims
_LTI = "https://purl.imsglobal.org/spec/lti/claim/"
CLAIM_MESSAGE_TYPE = _LTI + "message_type"
CLAIM_VERSION = _LTI + "version"
CLAIM_DEPLOYMENT_ID = _LTI + "deployment_id"
CLAIM_TARGET_LINK_URI = _LTI + "target_link_uri"
CLAIM_RESOURCE_LINK = _LTI + "resource_link"
CLAIM_ROLES = _LTI + "roles"
CLAIM_ROLE_SCOPE_MENTOR = _LTI + "role_scope_mentor"
CLAIM_CONTEXT = _LTI + "context"
CLAIM_TOOL_PLATFORM = _LTI + "tool_platform"
CLAIM_LAUNCH_PRESENTATION = _LTI + "launch_presentation"
CLAIM_CUSTOM = _LTI + "custom"
CLAIM_LIS = _LTI + "lis"

# Deep Linking 2.0
_DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
CLAIM_DL_SETTINGS = _DL + "deep_linking_settings"
CLAIM_DL_CONTENT_ITEMS = _DL + "content_items"
CLAIM_DL_DATA = _DL + "data"
CLAIM_DL_MSG = _DL + "msg"
CLAIM_DL_LOG = _DL + "log"
CLAIM_DL_ERRORMSG = _DL + "errormsg"
CLAIM_DL_ERRORLOG = _DL + "errorlog"

# AGS 2.0 and NRPS 2.0 claims
CLAIM_AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
CLAIM_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"

MESSAGE_RESOURCE_LINK = "LtiResourceLinkRequest"
MESSAGE_DEEP_LINKING = "LtiDeepLinkingRequest"
MESSAGE_DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
MESSAGES_SUPPORTED = (MESSAGE_RESOURCE_LINK, MESSAGE_DEEP_LINKING)

CONTEXT_TYPE_COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"

# Service scopes
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS_SCOPES = (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE)
SERVICE_SCOPES = (*AGS_SCOPES, SCOPE_NRPS)

# Media types
MEDIA_LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
MEDIA_LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
MEDIA_SCORE = "application/vnd.ims.lis.v1.score+json"
MEDIA_RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"
MEDIA_MEMBERSHIP_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"

# OAuth 2 client credentials with a signed JWT (RFC 7523), as the LTI Security Framework uses
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Dynamic Registration 1.0
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
CLOSE_MESSAGE_SUBJECT = "org.imsglobal.lti.close"

# Roles (LIS v2 vocabulary as LTI 1.3 uses it)
_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
ROLE_LEARNER = _LIS + "membership#Learner"
ROLE_INSTRUCTOR = _LIS + "membership#Instructor"
ROLE_TEACHING_ASSISTANT = _LIS + "membership/Instructor#TeachingAssistant"
ROLE_MENTOR = _LIS + "membership#Mentor"
ROLE_INSTITUTION_ADMINISTRATOR = _LIS + "institution/person#Administrator"
ROLE_INSTITUTION_STUDENT = _LIS + "institution/person#Student"
ROLE_INSTITUTION_FACULTY = _LIS + "institution/person#Faculty"
ROLE_SYSTEM_USER = _LIS + "system/person#User"
MEMBERSHIP_ROLE_PREFIX = _LIS + "membership"
# Not in any vocabulary: a tool must ignore it, not fail on it.
ROLE_UNKNOWN = "http://purl.imsglobal.org/vocab/lis/v2/unknown/unknown#Unknown"

# AGS score vocabularies
ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")
