"""``shipyard tokens create --from-env VAR``: a deployment's secret becomes a token, idempotently, so
an init container or compose job can bootstrap the tokens the replicas and schedulers hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.cli import main
from shipyard.errors import AlreadyExists, InvalidInput

TOKEN = "shy_" + "a1" * 32


def test_a_token_from_the_environment_authenticates_and_a_rerun_is_fine(
        shipyard_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.store import open_store
    from shipyard.store.sql.tokens import TokenStore

    monkeypatch.setenv("SERVE_TOKEN", TOKEN)
    args = ["tokens", "create", "--name", "serve", "--role", "writer", "--from-env", "SERVE_TOKEN"]
    assert main(args) == 0
    assert TOKEN not in capsys.readouterr().out  # a secret is never echoed
    assert main([*args, "--exists-ok"]) == 0
    store = open_store(f"sqlite:///{shipyard_home / 'shipyard.db'}", str(shipyard_home / "artifacts"))
    try:
        tokens = TokenStore(store)
        found = tokens.authenticate(TOKEN)
        assert found is not None and found.role == "writer"
        with pytest.raises(AlreadyExists):
            tokens.create_token("serve", "writer", TOKEN)  # without --exists-ok a second one is refused
        with pytest.raises(InvalidInput, match="shy_"):
            tokens.create_token("weak", "reader", "shy_short")
    finally:
        store.close()
    monkeypatch.setenv("SERVE_TOKEN", "shy_" + "b2" * 32)
    assert main([*args, "--exists-ok"]) != 0  # a different secret under the same name is not this token
