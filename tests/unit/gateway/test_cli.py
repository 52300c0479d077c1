"""`gateway --help` lists every verb and each verb explains itself."""

from __future__ import annotations

from click.testing import CliRunner

from gateway.cli import main
from gateway.client_secrets import scrypt_problem, verify_secret

VERBS = ["cron", "demo", "doctor", "emulate", "hash-secret", "serve", "stack", "sync", "worker"]


def test_every_verb_is_listed_and_has_help() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"])
    assert listing.exit_code == 0
    for verb in VERBS:
        assert verb in listing.output
        result = runner.invoke(main, [verb, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage: main" in result.output or f"{verb}" in result.output


def test_worker_refuses_an_unknown_queue(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MESSAGING_PLATFORM", "recording")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["worker", "--queues", "sync,urgent"])
    assert result.exit_code != 0
    assert "unknown queue(s) urgent" in result.output


def test_hash_secret_reads_the_secret_from_stdin_and_prints_a_usable_scrypt_hash() -> None:
    secret = "a-long-random-client-secret-0123"
    result = CliRunner().invoke(main, ["hash-secret"], input=secret + "\n")
    assert result.exit_code == 0, result.output
    hashed = result.output.strip()
    assert secret not in hashed and scrypt_problem(hashed) is None
    assert verify_secret(secret, scrypt=hashed) and not verify_secret(secret[:-1], scrypt=hashed)
    assert CliRunner().invoke(main, ["hash-secret"], input="").exit_code == 2
    assert CliRunner().invoke(main, ["hash-secret", secret]).exit_code != 0  # never from the command line
