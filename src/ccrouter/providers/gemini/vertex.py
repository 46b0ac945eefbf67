"""Gemini on Vertex AI (transformer `vertex-gemini`): the Gemini wire format with Vertex URLs and a bearer token.

    https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/publishers/google/
        models/{model}:generateContent | :streamGenerateContent?alt=sse

Configured as CCR users do, with the transformer options taking precedence:

- project: option `project` (or `project_id`), else `GOOGLE_CLOUD_PROJECT` (or `GCLOUD_PROJECT`), else the
  `project_id` of the service-account file (`quota_project_id` of an authorized-user file);
- location: option `location` (or `region`), else `GOOGLE_CLOUD_LOCATION`, else `us-central1` (CCR's default);
  `global` uses the global endpoint `aiplatform.googleapis.com`;
- credentials: see `vertex_auth` (a key file, `GOOGLE_OAUTH_ACCESS_TOKEN`, `GOOGLE_APPLICATION_CREDENTIALS`, ADC).

Constructing the adapter reads no file: the key file is read when the first token is needed, or earlier when the
project can only come from it (the URL needs it).

`api_base_url` supplies the scheme and host (and an API version such as `/v1beta1`, if it names one); a URL that
already holds `/projects/...` or `.../models/` is used as the prefix it is, and the Gemini API's own host is
replaced by the location's Vertex host. The provider's `api_key` is not sent (CCR needs a dummy one).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ccrouter.config.model import Provider
from ccrouter.errors import UpstreamError
from ccrouter.providers.base import ForwardRequest, RequestContext, new_id
from ccrouter.providers.gemini.adapter import GeminiAdapter
from ccrouter.providers.gemini.vertex_auth import BrokenCredentials, GoogleCredentials

DEFAULT_LOCATION = "us-central1"
_VERSION = re.compile(r"^v\d+((alpha|beta)\d*)?$")


def vertex_host(location: str) -> str:
    return "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"


def vertex_models_url(api_base_url: str, project: str, location: str) -> str:
    """The `.../publishers/google/models/` prefix for a project and location, on api_base_url's host."""
    parts = urlsplit(api_base_url)
    if parts.netloc == "generativelanguage.googleapis.com":  # the Gemini API's URL, pasted: use Vertex's own
        parts = urlsplit(f"https://{vertex_host(location)}")
    path = parts.path
    index = path.find("/models/")
    if index >= 0:
        return urlunsplit(parts._replace(path=path[: index + len("/models/")]))
    path = path.rstrip("/")
    if path.endswith("/models"):
        path += "/"
    elif "/publishers/" in path:
        path += "/models/"
    elif "/projects/" in path:
        path += "/publishers/google/models/"
    else:
        if not _VERSION.match(path.rsplit("/", 1)[-1]):
            path += "/v1"
        path += f"/projects/{quote(project, safe='')}/locations/{quote(location, safe='')}/publishers/google/models/"
    return urlunsplit(parts._replace(path=path))


class VertexGeminiAdapter(GeminiAdapter):
    """The `Adapter` for Gemini models on Vertex AI; `credentials` supplies the bearer token."""

    credentials: GoogleCredentials

    def __init__(
        self,
        provider: Provider,
        model: str,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        super().__init__(provider, model, make_id=make_id)
        env = os.environ if env is None else env
        options = _options(provider, model)
        self.credentials = GoogleCredentials(provider.name, options, env, clock)
        self._configured_project = _first(
            options.get("project"),
            options.get("project_id"),
            env.get("GOOGLE_CLOUD_PROJECT"),
            env.get("GCLOUD_PROJECT"),
        )
        location = _first(options.get("location"), options.get("region"), env.get("GOOGLE_CLOUD_LOCATION"))
        self.location = location or DEFAULT_LOCATION
        self._name = provider.name
        self._base_url = provider.api_base_url
        self._needs_project = "/projects/" not in urlsplit(provider.api_base_url).path
        self._vertex_prefix: str | None = None

    @property
    def project(self) -> str | None:
        """The configured project, else the key file's (which reads the file, once)."""
        if self._configured_project:
            return self._configured_project
        key_file = self.credentials.key_file()
        return _first(key_file.get("project_id"), key_file.get("quota_project_id"))

    def build_request(self, body: dict[str, Any], ctx: RequestContext) -> ForwardRequest:
        if self._needs_project and not self.project:
            source = self.credentials.source()
            if isinstance(source, BrokenCredentials):  # the root cause first: it is why there is no project
                raise UpstreamError(401, source.message, "authentication_error")
            raise UpstreamError(
                400,
                f"Provider {self._name!r} (vertex-gemini) needs a Google Cloud project: set GOOGLE_CLOUD_PROJECT, "
                'add it to the transformer options (["vertex-gemini", {"project": "my-project"}]), or use a '
                "service-account key file that has a project_id.",
                "invalid_request_error",
            )
        return super().build_request(body, ctx)

    def models_prefix(self) -> str:
        if self._vertex_prefix is None:
            project = (self.project or "") if self._needs_project else ""  # a URL naming its project needs no other
            self._vertex_prefix = vertex_models_url(self._base_url, project, self.location)
        return self._vertex_prefix

    def request_headers(self) -> dict[str, str]:
        return {"content-type": "application/json"}  # the bearer token comes from `credentials`


def _options(provider: Provider, model: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for use in provider.transformers_for(model):
        if use.name == "vertex-gemini" and use.options:
            merged.update(use.options)
    return merged


def _first(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
