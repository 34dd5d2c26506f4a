"""The tool's shared runtime: settings, database, short-lived store, keys, content, HTTP."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy.orm import Session

from lti_tool.persistence import make_engine, make_sessionmaker
from lti_tool.persistence.ephemeral import make_store
from lti_tool.settings import Settings

if TYPE_CHECKING:
    from lti_tool.assessments import Content
    from lti_tool.lti.keys import Keyring

USER_AGENT = "lti-tool/0.1 (+competency assessments; LTI 1.3)"

_content_lock = threading.Lock()
_content_cache: dict[str, Content] = {}


class Runtime:
    """Everything a request, the worker or a CLI command needs, built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        schema = settings.extra.get("database_schema")
        self.engine = make_engine(settings.database_url, schema=schema)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.store = make_store(self.engine, settings.redis_url, settings.redis_prefix)

    @cached_property
    def keyring(self) -> Keyring:
        from lti_tool.lti.keys import Keyring

        return Keyring(self)

    @property
    def content(self) -> Content:
        """The framework and question banks, loaded once per process and path."""
        from lti_tool.assessments import load_content

        path = str(self.settings.content_path)
        with _content_lock:
            if path not in _content_cache:
                _content_cache[path] = load_content(self.settings.content_path)
            return _content_cache[path]

    @cached_property
    def http(self) -> requests.Session:
        """A pooled HTTP session for calls to platforms; every call carries a User-Agent."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=10, pool_maxsize=20)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        return session

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work outside a request: commit on success, roll back on error."""
        db = self.sessionmaker()
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    def dispose(self) -> None:
        self.engine.dispose()


def current_runtime() -> Runtime:
    """The runtime of the Flask app handling this request."""
    return current_app.extensions["lti_tool"]
