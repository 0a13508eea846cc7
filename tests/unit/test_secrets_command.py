"""`agentcreator secrets set-langfuse` against moto: header built, new version written, keys never shown."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from agentcreator.cli import main
from agentcreator.collector import secret_name
from agentcreator.commands import secrets as secrets_command
from agentcreator.config import langfuse_authorization

REGION = "eu-west-1"
NAME = "agentcreator/staging/langfuse-otlp-authorization"
PUBLIC, SECRET = "pk-lf-test-public", "sk-lf-test-secret"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        client.create_secret(Name=NAME, SecretString="placeholder")
        yield client


class _Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def _expected_header() -> str:
    return "Basic " + base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()


def test_header_is_basic_base64_of_public_and_secret():
    header = langfuse_authorization(PUBLIC, SECRET)
    assert header == _expected_header()
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"{PUBLIC}:{SECRET}"


def test_secret_name_is_shared_with_the_stack():
    assert secret_name("staging") == NAME
    with pytest.raises(ValueError, match="environment name"):
        secret_name("Prod/../x")


def test_flags_write_a_new_version_and_print_no_key(secret, capsys):
    before = secret.describe_secret(SecretId=NAME)["VersionIdsToStages"]
    code = main(["secrets", "set-langfuse", "--env", "staging", "--public-key", PUBLIC,
                 "--secret-key", SECRET, "--region", REGION])
    assert code == 0
    assert secret.get_secret_value(SecretId=NAME)["SecretString"] == _expected_header()
    after = secret.describe_secret(SecretId=NAME)["VersionIdsToStages"]
    assert len(after) == len(before) + 1 or set(after) != set(before)
    out, err = capsys.readouterr()
    for text in (PUBLIC, SECRET, _expected_header(), "Basic"):
        assert text not in out + err
    assert NAME in out


def test_keys_from_stdin_when_not_a_tty(secret, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", _Stdin(f"{PUBLIC}\n{SECRET}\n", tty=False))
    assert main(["secrets", "set-langfuse", "--env", "staging", "--region", REGION]) == 0
    assert secret.get_secret_value(SecretId=NAME)["SecretString"] == _expected_header()
    out, err = capsys.readouterr()
    assert SECRET not in out + err and PUBLIC not in out + err


def test_keys_from_hidden_prompts_on_a_tty(secret, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", _Stdin("", tty=True))
    answers = iter([PUBLIC, SECRET])
    prompts: list[str] = []
    monkeypatch.setattr(secrets_command.getpass, "getpass", lambda prompt: prompts.append(prompt) or next(answers))
    assert main(["secrets", "set-langfuse", "--env", "staging", "--region", REGION]) == 0
    assert prompts == ["Langfuse public key: ", "Langfuse secret key: "]
    assert secret.get_secret_value(SecretId=NAME)["SecretString"] == _expected_header()


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        (["--public-key", PUBLIC], ""),  # secret key missing on stdin
        (["--public-key", "pk with space", "--secret-key", SECRET], ""),
        (["--public-key", SECRET, "--secret-key", PUBLIC], ""),  # swapped
        ([], f"{PUBLIC}\n"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(secret, capsys, monkeypatch, argv, stdin):
    monkeypatch.setattr("sys.stdin", _Stdin(stdin, tty=False))
    assert main(["secrets", "set-langfuse", "--env", "staging", "--region", REGION, *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and SECRET not in err
    assert secret.get_secret_value(SecretId=NAME)["SecretString"] == "placeholder"


def test_bad_environment_name_exits_2(secret, capsys):
    assert main(["secrets", "set-langfuse", "--env", "Prod!", "--public-key", PUBLIC, "--secret-key", SECRET]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_missing_secret_says_to_deploy_first(secret, capsys):
    code = main(["secrets", "set-langfuse", "--env", "dev", "--public-key", PUBLIC, "--secret-key", SECRET,
                 "--region", REGION])
    assert code == 1
    err = capsys.readouterr().err
    assert "ResourceNotFoundException" in err and "deploy the stack first" in err and SECRET not in err


def test_boto3_is_imported_lazily():
    source = Path(secrets_command.__file__).read_text()
    top = source.split("def run(", 1)[0]
    assert "import boto3" not in top
