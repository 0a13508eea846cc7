"""Fixtures for `pytest -m adot`: the synthesized stacks' collector containers, run in a real ADOT binary.

The binary is named by AGENTCREATOR_ADOT_BIN (CI cannot download it; build ADOT v0.49.0 yourself).
Each collector gets its container's AOT_CONFIG_CONTENT and environment from the synthesized template,
unchanged except: its four fixed loopback ports move to free ones (so runs never collide), the
backends' addresses point at the local stand-ins, and the AWS SDK gets fake credentials.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from agentcreator.processes import stop_process
from tests.infra.conftest import containers, environment_of, pipeline_metrics_read, resources, synthesize

REGION = "us-east-1"
_FIXED_PORTS = ("4317", "4318", "13133", "8888")


@pytest.fixture(scope="session")
def adot_bin() -> str:
    path = os.environ.get("AGENTCREATOR_ADOT_BIN", "")
    if not path:
        pytest.skip("set AGENTCREATOR_ADOT_BIN to an ADOT v0.49.0 collector binary (awscollector) to run this test")
    if not os.access(path, os.X_OK):
        pytest.fail(f"AGENTCREATOR_ADOT_BIN={path} is not an executable file")
    return path


def _resolve(value: Any) -> str:
    """A container environment value with CloudFormation's region reference filled in."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value.get("Ref") == "AWS::Region":
        return REGION
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_resolve(part) for part in parts)
    raise ValueError(f"cannot resolve {value!r}")


@pytest.fixture(scope="session")
def stacks(adot_bin: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """env -> {"collector": its environment (resolved), "secrets": names, "app": the app's environment,
    "alarmed": the collector metrics its alarms read, "pipeline_reads": the app metrics its pipeline
    dashboard and alarms read}."""
    from tests.infra.conftest import _load_infra_app

    synthesized = synthesize(_load_infra_app(), tmp_path_factory.mktemp("cdk.out.adot"))
    found = {}
    for env, raw in synthesized.raw.items():
        task = containers(raw)
        collector = {k: _resolve(v) for k, v in environment_of(task["collector"]).items()}
        found[env] = {
            "collector": collector,
            "secrets": {s["Name"] for s in task["collector"].get("Secrets", [])},
            "app": {k: _resolve(v) for k, v in environment_of(task["app"]).items()},
            "alarmed": alarmed_metrics(raw, collector["AOT_CONFIG_CONTENT"]),
            "pipeline_reads": pipeline_metrics_read(raw, env),
        }
    return found


def alarmed_metrics(template: dict, config: str) -> set[str]:
    """The collector metric names the template's alarms read (plain or inside metric math)."""
    emf = next(v for k, v in yaml.safe_load(config)["exporters"].items() if k.split("/")[0] == "awsemf")
    names = set()
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        metrics = [props] if "MetricName" in props else [
            query["MetricStat"]["Metric"] for query in props.get("Metrics", []) if "MetricStat" in query]
        names |= {m["MetricName"] for m in metrics if m["Namespace"] == emf["namespace"]}
    return names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RealCollector:
    """One ADOT process on loopback; ``ports`` maps each fixed port of the config to the one used."""

    def __init__(self, binary: str, config: str, environment: dict[str, str]) -> None:
        self.ports = {fixed: str(free_port()) for fixed in _FIXED_PORTS}
        for fixed, port in self.ports.items():
            assert f"127.0.0.1:{fixed}" in config or f"port: {fixed}" in config, fixed
            config = config.replace(f"127.0.0.1:{fixed}", f"127.0.0.1:{port}")
            config = config.replace(f"port: {fixed}", f"port: {port}")
        self.config = config
        self.argv = [binary]  # a benchmark may wrap it, e.g. to start it inside a memory cgroup
        self._env = {"PATH": os.environ.get("PATH", ""), **environment, "AOT_CONFIG_CONTENT": config}
        self._log = Path(tempfile.mkstemp(prefix="adot-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['4318']}"

    def log(self) -> str:
        return self._log.read_text(errors="replace")

    def metrics(self) -> dict[str, float]:
        """The telemetry endpoint's samples: ``name{labels}`` -> value."""
        text = httpx.get(f"http://127.0.0.1:{self.ports['8888']}/metrics", timeout=5).text
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def metric_names(self) -> set[str]:
        return {re.split(r"[{ ]", key, maxsplit=1)[0] for key in self.metrics()}

    def total(self, name: str, **labels: str) -> float:
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        return sum(value for key, value in self.metrics().items()
                   if re.split(r"[{ ]", key, maxsplit=1)[0] == name and all(w in key for w in wanted))

    def rss_mib(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def start(self, timeout: float = 30.0) -> RealCollector:
        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, env=self._env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the collector exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.ports['13133']}/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the collector was not healthy within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 15)

    def __enter__(self) -> RealCollector:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)


def collector_environment(stack: dict[str, Any], *, langfuse: str, xray: str, logs: str, ecs: str,
                          **overrides: str) -> dict[str, str]:
    """The container's environment as ECS would give it, with the backends pointed at the stand-ins."""
    environment = {k: v for k, v in stack["collector"].items() if k != "AOT_CONFIG_CONTENT"}
    if "LANGFUSE_OTLP_ENDPOINT" in environment:
        environment["LANGFUSE_OTLP_ENDPOINT"] = langfuse + "/api/public/otel"
    if "LANGFUSE_AUTHORIZATION" in stack["secrets"]:
        environment["LANGFUSE_AUTHORIZATION"] = "Basic cGstbGYtZmFrZTpzay1sZi1mYWtl"  # base64 of a fake pk:sk
    if "XRAY_OTLP_TRACES_ENDPOINT" in environment:
        environment["XRAY_OTLP_TRACES_ENDPOINT"] = xray + "/v1/traces"
    environment.update({
        "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "AKIDLOCALSTANDIN", "AWS_SECRET_ACCESS_KEY": "local-stand-in",
        "AWS_ENDPOINT_URL_XRAY": xray, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": logs,
        "AWS_EC2_METADATA_DISABLED": "true", "ECS_CONTAINER_METADATA_URI_V4": ecs,
    })
    environment.update(overrides)
    return environment
