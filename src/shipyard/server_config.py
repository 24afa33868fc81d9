"""What the operator of a shipyard server allows its processes to do on the platform's behalf.

Some effects of the platform reach outside the store: a monitor's ``command`` channel runs a
program on the scheduler's host, a ``webhook`` channel makes the scheduler send HTTP requests. A
spec written over the API must never choose *what* runs or *where* requests go, or every writer
token would be a shell on the scheduler's machine. So both are allowed only from a file the
operator keeps beside the processes (TOML), named by ``SHIPYARD_SERVER_CONFIG`` (``shipyard server
--config`` and ``shipyard scheduler --config`` set it for their process)::

    [alerts]
    # a command channel's argv must be exactly one of these (a spec may also name one: {"type":
    # "command", "name": "pager"})
    commands = { pager = ["/usr/local/bin/page-oncall", "--team", "ml"] }
    # a webhook channel's URL must be http(s) to one of these hosts ("host" any port, "host:port" that one)
    webhook_hosts = ["hooks.slack.com", "alerts.internal:8443"]

    [artifacts]
    # clients reach an object-store artifact root (s3://...) directly, with their own credentials,
    # instead of through the server's /api/v1/artifacts (default true: served by the server)
    serve = false

Without the file (or without a section) nothing is allowed: monitors alert through the ``log``
channel only. The file is read at each check, so an edit applies without a restart. The server
checks channels when a spec is written over the API, and the delivery checks them again right
before running a command or sending a request (a spec stored earlier, or written straight into the
database, gets no further than the log).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shipyard.errors import InvalidInput, PermissionDenied

__all__ = ["CONFIG_ENV", "ServerConfig", "load_server_config"]

CONFIG_ENV = "SHIPYARD_SERVER_CONFIG"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The operator's allow-lists (empty: nothing beyond the ``log`` channel)."""

    commands: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    webhook_hosts: tuple[str, ...] = ()
    path: str | None = None
    serve_artifacts: bool = True  # [artifacts] serve: artifacts through the server (read at its start)

    def command_argv(self, channel: Mapping[str, Any]) -> tuple[str, ...]:
        """The argv a command channel may run; PermissionDenied when the configuration lacks it."""
        name, argv = channel.get("name"), channel.get("argv")
        if isinstance(name, str) and name in self.commands:
            configured = self.commands[name]
            if argv is None or tuple(argv) == configured:
                return configured
        elif isinstance(argv, list | tuple) and tuple(argv) in self.commands.values():
            return tuple(argv)
        raise PermissionDenied(
            "command channel refused: a command channel may only run a command the server's operator configured "
            f"([alerts.commands] in {self._where()}); configured: {', '.join(sorted(self.commands)) or 'none'}")

    def check_webhook(self, url: Any) -> None:
        """PermissionDenied unless ``url`` is http(s) to a configured host (no credentials in it)."""
        parts = urlsplit(url) if isinstance(url, str) else None
        host = (parts.hostname or "") if parts is not None else ""
        try:
            port = parts.port if parts is not None else None
        except ValueError:
            port = -1
        if (parts is None or parts.scheme not in ("http", "https") or not host or port == -1
                or "@" in parts.netloc or any(c.isspace() or ord(c) < 32 for c in str(url))):
            raise InvalidInput(f"a webhook channel needs a plain http(s) URL, got {str(url)[:200]!r}")
        port = port or (443 if parts.scheme == "https" else 80)
        for allowed in self.webhook_hosts:
            allowed_host, _, allowed_port = allowed.lower().rpartition(":") if ":" in allowed else (allowed, "", "")
            if host == (allowed_host or allowed).lower() and (not allowed_port or allowed_port == str(port)):
                return
        raise PermissionDenied(
            f"webhook channel refused: host {host!r} is not one the server's operator allows "
            f"([alerts] webhook_hosts in {self._where()})")

    def check_channel(self, channel: Any) -> None:
        """Raises unless the channel's effect is allowed here (``log`` always is)."""
        if isinstance(channel, str):
            channel = {"type": channel}  # the "log" shorthand
        elif dataclasses.is_dataclass(channel) and not isinstance(channel, type):
            channel = dataclasses.asdict(channel)  # a typed channel: checked field by field all the same
        if not isinstance(channel, Mapping):
            raise InvalidInput(f"a channel is an object with a 'type', got {str(channel)[:100]!r}")
        kind = channel.get("type")
        if kind not in ("log", "webhook", "command"):
            raise InvalidInput(f"unknown channel type {str(kind)[:50]!r} (log, webhook or command)")
        if kind == "command":
            self.command_argv(channel)
        elif kind == "webhook":
            self.check_webhook(channel.get("url"))

    def check_spec(self, spec: Any) -> None:
        """Every channel of a monitor spec (the raw JSON object a client sent)."""
        channels = spec.get("channels") if isinstance(spec, Mapping) else None
        for channel in channels if isinstance(channels, list) else []:
            self.check_channel(channel)

    def _where(self) -> str:
        return self.path or f"the file named by {CONFIG_ENV} (unset)"


def _str_list(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidInput(f"{what} must be a list of non-empty strings")
    return tuple(value)


def load_server_config(path: str | os.PathLike[str] | None = None) -> ServerConfig:
    """The configuration at ``path`` (default: ``$SHIPYARD_SERVER_CONFIG``; unset: the empty one).

    Raises InvalidInput for a file that is missing or malformed, so a typo never silently
    allows or forbids something."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV) or None
    if chosen is None:
        return ServerConfig()
    where = str(Path(chosen).absolute())
    try:
        data = tomllib.loads(Path(chosen).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read the server configuration {where}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the server configuration {where} is not valid TOML: {exc}") from exc
    alerts = data.get("alerts", {})
    if not isinstance(alerts, dict):
        raise InvalidInput(f"[alerts] in {where} must be a table")
    unknown = set(alerts) - {"commands", "webhook_hosts"}
    if unknown:
        raise InvalidInput(f"unknown setting(s) in [alerts] of {where}: {', '.join(sorted(unknown))}")
    commands_in = alerts.get("commands", {})
    if not isinstance(commands_in, dict):
        raise InvalidInput(f"[alerts] commands in {where} must map names to argv lists")
    commands = {str(name): _str_list(argv, f"command {name!r} in {where}") for name, argv in commands_in.items()}
    hosts = _str_list(alerts.get("webhook_hosts", []), f"[alerts] webhook_hosts in {where}")
    return ServerConfig(commands=commands, webhook_hosts=hosts, path=where,
                        serve_artifacts=_serve_artifacts(data.get("artifacts", {}), where))


def _serve_artifacts(section: Any, where: str) -> bool:
    if not isinstance(section, dict):
        raise InvalidInput(f"[artifacts] in {where} must be a table")
    unknown = set(section) - {"serve"}
    if unknown:
        raise InvalidInput(f"unknown setting(s) in [artifacts] of {where}: {', '.join(sorted(unknown))}")
    serve = section.get("serve", True)
    if not isinstance(serve, bool):
        raise InvalidInput(f"[artifacts] serve in {where} must be true or false")
    return serve
