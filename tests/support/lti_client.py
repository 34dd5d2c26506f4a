"""A requests-based browser that walks the OIDC launch like a real one does."""

from __future__ import annotations

from html.parser import HTMLParser
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlencode, urljoin, urlsplit

import requests


class _LocalSecurePolicy(DefaultCookiePolicy):
    """Send Secure cookies to http://localhost and 127.0.0.1, as Chromium does (both are
    potentially trustworthy origins)."""

    def return_ok_secure(self, cookie, request):
        host = urlsplit(request.get_full_url()).hostname
        if host in {"localhost", "127.0.0.1"}:
            return True
        return super().return_ok_secure(cookie, request)


class _Session(requests.Session):
    """requests copies cookies into a fresh jar with the default policy when it prepares a
    request, which drops Secure cookies on http://localhost: re-add them with ours."""

    def prepare_request(self, request):
        prepared = super().prepare_request(request)
        prepared.headers.pop("Cookie", None)
        prepared.prepare_cookies(self.cookies)
        return prepared


class FormParser(HTMLParser):
    """Collects forms: action, method and their named input values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""),
                               "method": (attrs.get("method") or "get").lower(),
                               "fields": {}, "id": attrs.get("id")})
        elif tag in {"input", "button", "textarea", "select"} and self.forms:
            name = attrs.get("name")
            if name and attrs.get("type") not in {"submit", "checkbox", "radio"}:
                self.forms[-1]["fields"][name] = attrs.get("value", "")


def forms_of(html: str) -> list[dict]:
    parser = FormParser()
    parser.feed(html)
    return parser.forms


class LtiBrowser:
    """One browser: its own cookie jar, following the sandbox -> tool launch flow."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.http = _Session()
        self.http.cookies.set_policy(_LocalSecurePolicy())
        self.http.headers["User-Agent"] = "lti-tool-tests"

    def submit_auto_form(self, response: requests.Response, **changes) -> requests.Response:
        """Submit the page's (auto-submitting) form like the browser's script would."""
        forms = forms_of(response.text)
        assert forms, f"no form on the page: {response.status_code} {response.text[:300]}"
        form = forms[0]
        fields = {**form["fields"], **changes}
        action = urljoin(response.url, form["action"])
        if form["method"] == "post":
            return self.http.post(action, data=fields, allow_redirects=True)
        return self.http.get(action, params=fields, allow_redirects=True)

    def start_url(self, **params) -> str:
        return f"{self.stack.lms_url}/launch/start?{urlencode(params)}"

    def launch(self, user: str = "learner-1", link: str = "rl-a1", *,
               message: str = "resource", context: str | None = None,
               **params) -> requests.Response:
        """Run login -> platform auth -> launch; returns the tool's final page."""
        query = {"user": user, "link": link, "message": message, **params}
        if context:
            query["context"] = context
        response = self.http.get(self.start_url(**query), allow_redirects=True)
        # The sandbox's auth endpoint answers with an auto-posting form to /lti/launch.
        if "/lti/launch" in response.text and forms_of(response.text):
            return self.submit_auto_form(response)
        return response

    def launch_session(self, response: requests.Response) -> str:
        """The ``ls`` launch session id of a page reached after a launch."""
        from urllib.parse import parse_qs

        values = parse_qs(urlsplit(response.url).query).get("ls")
        assert values, f"no launch session in {response.url}"
        return values[0]
