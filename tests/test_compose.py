"""The compose stack is complete, pinned and wired as docs/production.md says (Docker is not run)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from idri.codec import EncryptionCodec, EncryptionConfigError
from idri.settings import Settings
from models import search

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCS = (ROOT / "docs" / "production.md").read_text(encoding="utf-8")

LONG_RUNNING = {
    *("postgresql", "temporal", "temporal-ui", "api", "worker", "codec-server", "mailpit"),
    "minio",
}
ONE_SHOTS = {"registry-db", "temporal-schema", "temporal-setup", "minio-setup"}
PUBLISHED = {
    "temporal": {7233},
    "temporal-ui": {8080},
    "api": {7280},
    "mailpit": {8025, 1025},
    "codec-server": {8081},
    "minio": {9001},
}


# --- Reading the compose file ---------------------------------------------------------------


def environment(name: str) -> dict[str, str]:
    """The ``environment:`` of a service, whichever of the two forms it uses."""
    raw = SERVICES[name].get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def env_files(name: str) -> list[Path]:
    raw = SERVICES[name].get("env_file") or []
    entries = [raw] if isinstance(raw, str | dict) else raw
    return [ROOT / (entry["path"] if isinstance(entry, dict) else entry) for entry in entries]


def env_file_variables(name: str) -> dict[str, str]:
    """What a service's env files set, read from their committed ``.example`` copies."""
    values: dict[str, str] = {}
    for path in env_files(name):
        values.update(read_env_file(path.with_name(path.name + ".example")))
    return values


def interpolated(name: str) -> set[str]:
    """``${VARIABLES}`` the service's definition reads from the shell or ``.env``."""
    return set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", yaml.safe_dump(SERVICES[name])))


def variables(name: str) -> set[str]:
    return set(environment(name)) | set(env_file_variables(name)) | interpolated(name)


def port_bindings(name: str) -> list[tuple[str, int]]:
    """(host ip, host port) of each published port; host-network services: their --port."""
    service = SERVICES[name]
    if service.get("network_mode") == "host":
        command = service["command"]
        return [("127.0.0.1", int(command[command.index("--port") + 1]))]
    bindings = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            bindings.append((entry.get("host_ip", "0.0.0.0"), int(entry["published"])))
            continue
        parts = str(entry).split(":")
        ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        bindings.append((ip, int(parts[-2])))
    return bindings


def named_volumes(name: str) -> set[str]:
    return set(named_volume_targets(name))


def named_volume_targets(name: str) -> dict[str, str]:
    """Named volume → the container path it is mounted at."""
    targets = {}
    for entry in SERVICES[name].get("volumes") or []:
        if isinstance(entry, dict):
            source, target = entry["source"], entry["target"]
        else:
            source, target = str(entry).split(":")[:2]
        if not source.startswith((".", "/", "~")):
            targets[source] = target
    return targets


def bind_mounts(name: str) -> dict[str, Path]:
    """Container path → the repository path mounted there."""
    mounts = {}
    for entry in SERVICES[name].get("volumes") or []:
        if isinstance(entry, str) and entry.startswith("./"):
            source, target = entry.split(":")[:2]
            mounts[target] = ROOT / source
    return mounts


def healthcheck_command(name: str) -> str:
    test = SERVICES[name]["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def idri_services() -> set[str]:
    """The services running the idri image."""
    image = SERVICES["worker"]["image"]
    return {name for name, service in SERVICES.items() if service.get("image") == image}


def host_path(name: str, container_path: str) -> Path:
    for target, source in bind_mounts(name).items():
        if container_path == target or container_path.startswith(target + "/"):
            return source / os.path.relpath(container_path, target)
    raise AssertionError(f"{name}: nothing of the repository is mounted at {container_path}")


# --- The stack --------------------------------------------------------------------------------


def test_every_service_of_the_stack_is_there() -> None:
    assert set(SERVICES) >= LONG_RUNNING | ONE_SHOTS


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_images_are_pinned(name: str) -> None:
    image = SERVICES[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and tag, f"{name}: image {image!r} has no tag"
    assert tag != "latest"
    assert "$" not in image


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_long_running_services_have_health_checks(name: str) -> None:
    check = SERVICES[name].get("healthcheck") or {}
    assert check.get("test") and not check.get("disable")
    assert SERVICES[name].get("restart") == "unless-stopped"


@pytest.mark.parametrize("name", sorted(ONE_SHOTS))
def test_one_shots_run_once(name: str) -> None:
    assert SERVICES[name].get("restart", "no") == "no"
    assert "healthcheck" not in SERVICES[name]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_wait_for_health_or_completion(name: str) -> None:
    depends_on = SERVICES[name].get("depends_on") or {}
    assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
    for dependency, rule in depends_on.items():
        expected = (
            "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
        )
        assert rule["condition"] == expected, f"{name} → {dependency}"


def test_temporal_starts_after_its_schema_and_workers_after_the_setup() -> None:
    assert "temporal-schema" in SERVICES["temporal"]["depends_on"]
    assert {"temporal-setup", "registry-db", "temporal", "mailpit"} <= set(
        SERVICES["worker"]["depends_on"]
    )


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_ports_are_published_on_loopback_only(name: str) -> None:
    bindings = port_bindings(name)
    assert {port for _, port in bindings} == PUBLISHED[name]
    assert {ip for ip, _ in bindings} == {"127.0.0.1"}


def test_the_worker_is_wired_to_the_stack() -> None:
    env = environment("worker")
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["IDRI_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["IDRI_DATABASE_URL"].endswith("@postgresql:5432/idri")
    assert env["IDRI_SMTP_HOST"] == "mailpit"
    assert env["IDRI_SMTP_PORT"] == "1025"
    assert {"IDRI_ENCRYPTION_KEYS", "IDRI_ENCRYPTION_KEY_ID"} <= set(env_file_variables("worker"))


def test_the_worker_scales() -> None:
    worker = SERVICES["worker"]
    assert worker["command"] == ["python", "worker.py"]
    assert worker["deploy"]["replicas"] >= 2
    assert "container_name" not in worker and not worker.get("ports")


def test_the_codec_server_runs_from_the_same_image_with_the_same_keys() -> None:
    codec = SERVICES["codec-server"]
    assert codec["image"] == SERVICES["worker"]["image"]
    assert codec["command"][:3] == ["python", "-m", "idri.codec_server"]
    assert env_files("codec-server") == [ROOT / "deploy" / "idri.env"]
    assert set(env_files("codec-server")) < set(env_files("worker"))


# --- The API, and who reaches Temporal ------------------------------------------------------


def test_the_api_runs_alone_from_the_idri_image() -> None:
    api = SERVICES["api"]
    assert api["image"] == SERVICES["worker"]["image"]
    assert api["command"] == ["python", "-m", "idri.api"]
    assert api["init"] is True
    assert "deploy" not in api and "container_name" not in api


def test_the_api_starts_after_temporal_its_namespace_and_the_registry() -> None:
    assert SERVICES["api"]["depends_on"] == {
        "temporal": {"condition": "service_healthy"},
        "temporal-setup": {"condition": "service_completed_successfully"},
        "registry-db": {"condition": "service_completed_successfully"},
        "minio-setup": {"condition": "service_completed_successfully"},
    }


def test_the_api_listens_where_it_is_published_and_checked() -> None:
    env = environment("api")
    assert env["IDRI_API_HOST"] == "0.0.0.0"
    [(_, published)] = port_bindings("api")
    [entry] = SERVICES["api"]["ports"]
    assert int(str(entry).rsplit(":", 1)[1]) == int(env["IDRI_API_PORT"]) == published == 7280
    check = healthcheck_command("api")
    assert "urllib.request.urlopen" in check
    assert f"http://127.0.0.1:{env['IDRI_API_PORT']}/api/health" in check


def test_the_api_reaches_the_same_temporal_and_registry_as_the_worker() -> None:
    api, worker = environment("api"), environment("worker")
    for key in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "IDRI_DATABASE_URL"):
        assert api[key] == worker[key], key
    assert api["TEMPORAL_NAMESPACE"] == environment("temporal-setup")["TEMPORAL_NAMESPACE"]
    assert env_files("api") == env_files("worker")


def test_the_api_settings_are_settings_idri_reads() -> None:
    for key in environment("api"):
        if key.startswith("IDRI_"):
            assert key.removeprefix("IDRI_").lower() in Settings.model_fields, key


def test_the_first_admin_token_is_kept_in_the_api_s_own_volume() -> None:
    [(volume, target)] = named_volume_targets("api").items()
    assert target == environment("api")["IDRI_DATA_DIR"]
    assert volume not in named_volumes("worker"), "the workers would read the admin token"


def test_only_the_api_and_the_workers_reach_temporal() -> None:
    clients = {name for name in idri_services() if "TEMPORAL_ADDRESS" in variables(name)}
    assert clients == {"api", "worker"}
    assert not {key for key in variables("codec-server") if key.startswith("TEMPORAL_")}


def test_temporal_credentials_have_a_file_only_the_api_and_the_workers_read() -> None:
    credentials = ROOT / "deploy" / "temporal.env"
    readers = {name for name in SERVICES if credentials in env_files(name)}
    assert readers == {"api", "worker"}
    shared = read_env_file(ROOT / "deploy" / "idri.env.example")
    assert not [key for key in shared if key.startswith("TEMPORAL_")]


def test_the_ui_only_watches() -> None:
    env = environment("temporal-ui")
    assert env["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert env["TEMPORAL_BATCH_ACTIONS_DISABLED"] == "true"
    assert env["TEMPORAL_START_WORKFLOW_DISABLED"] == "true"
    # environment: wins over env_file: deploy/ui.env cannot turn the writes back on.
    assert not {key for key in env_file_variables("temporal-ui") if "DISABLE" in key}


def test_the_ui_signs_in_with_the_settings_of_its_env_file() -> None:
    settings = env_file_variables("temporal-ui")
    assert {
        "TEMPORAL_AUTH_ENABLED",
        "TEMPORAL_AUTH_PROVIDER_URL",
        "TEMPORAL_AUTH_ISSUER_URL",
        "TEMPORAL_AUTH_CLIENT_ID",
        "TEMPORAL_AUTH_CLIENT_SECRET",
        "TEMPORAL_AUTH_CALLBACK_URL",
        "TEMPORAL_AUTH_SCOPES",
    } <= set(settings)
    assert settings["TEMPORAL_AUTH_ENABLED"] == "true"
    assert settings["TEMPORAL_AUTH_CALLBACK_URL"].endswith("/auth/sso/callback")
    assert not {key for key in environment("temporal-ui") if key.startswith("TEMPORAL_AUTH_")}


@pytest.mark.parametrize("name", sorted(name for name in SERVICES if env_files(name)))
def test_env_files_have_an_example(name: str) -> None:
    for path in env_files(name):
        assert path.with_name(path.name + ".example").is_file(), path


def test_env_files_with_secrets_are_kept_out_of_git() -> None:
    ignored = set()
    for gitignore in (ROOT / ".gitignore", ROOT / "deploy" / ".gitignore"):
        for line in gitignore.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                ignored.add(gitignore.parent / line.strip())
    used = {path for name in SERVICES for path in env_files(name)}
    assert used <= ignored, used - ignored


def test_the_ui_points_at_the_codec_server_which_accepts_its_origin() -> None:
    [(_, codec_port)] = port_bindings("codec-server")
    [(_, ui_port)] = port_bindings("temporal-ui")
    assert environment("temporal-ui")["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{codec_port}"
    origins = environment("codec-server")["IDRI_CODEC_CORS_ORIGIN"].split(",")
    assert f"http://localhost:{ui_port}" in origins


def test_named_volumes_are_declared_and_hold_the_data() -> None:
    used = set().union(*(named_volumes(name) for name in SERVICES))
    assert used == set(COMPOSE["volumes"])
    for name in ("postgresql", "mailpit", "worker"):
        assert named_volumes(name), f"{name} keeps its data in the container"


@pytest.mark.parametrize("name", sorted(ONE_SHOTS))
def test_one_shot_scripts_exist_and_are_executable(name: str) -> None:
    script = host_path(name, SERVICES[name]["entrypoint"][-1])
    assert script.is_file()
    assert os.access(script, os.X_OK)
    assert script.read_text(encoding="utf-8").startswith("#!/bin/sh\n")


def test_the_dynamic_config_file_exists_and_is_well_formed() -> None:
    path = environment("temporal")["DYNAMIC_CONFIG_FILE_PATH"]
    config = yaml.safe_load(
        host_path("temporal", "/etc/temporal/" + path).read_text(encoding="utf-8")
    )
    for key, values in config.items():
        assert isinstance(values, list) and all("value" in item for item in values), key


def test_the_registered_search_attributes_are_the_ones_the_code_uses() -> None:
    listed = {}
    path = ROOT / "deploy" / "temporal" / "search-attributes.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind = line.split()
            listed[name] = kind.upper()
    assert listed == {key.name: key.indexed_value_type.name.replace("_", "") for key in search.ALL}


def test_the_env_file_example_cannot_be_used_as_it_is() -> None:
    example = env_file_variables("worker")
    keys = json.loads(example["IDRI_ENCRYPTION_KEYS"])
    assert example["IDRI_ENCRYPTION_KEY_ID"] in keys
    placeholder = Settings(  # type: ignore[call-arg]
        _env_file=None, encryption_keys=keys, encryption_key_id=example["IDRI_ENCRYPTION_KEY_ID"]
    )
    with pytest.raises(EncryptionConfigError):
        EncryptionCodec.from_settings(placeholder)


def test_the_dockerfile_installs_the_project_and_runs_the_worker() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base.group(1))
    assert "pip install ." in dockerfile
    assert 'CMD ["python", "worker.py"]' in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)


# --- What docs/production.md says ---------------------------------------------------------


def documented_services() -> dict[str, dict[str, str]]:
    """Rows of the docs' service table: service → {column: cell}."""
    section = DOCS.split("### Services, ports and variables", 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = dict(
            zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True)
        )
        [service] = re.findall(r"`([^`]+)`", cells["Service"])
        rows[service] = cells
    return rows


def test_the_docs_table_lists_every_service() -> None:
    assert set(documented_services()) == set(SERVICES)


@pytest.mark.parametrize("name", sorted(documented_services()))
def test_documented_ports_variables_and_volumes_are_in_the_compose_file(name: str) -> None:
    row = documented_services()[name]
    ports = {int(port) for port in re.findall(r"\b\d{2,5}\b", row["Host port"])}
    assert ports == {port for _, port in port_bindings(name)}
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row["Variables"]))
    assert documented <= variables(name), documented - variables(name)
    volumes = set(re.findall(r"`([a-z0-9-]+)`", row["Volume"]))
    assert volumes == named_volumes(name)
    assert volumes <= set(COMPOSE["volumes"])


def test_the_docs_say_how_to_start_and_scale_the_stack() -> None:
    assert "docker compose up -d" in DOCS
    assert "--scale worker=" in DOCS
    assert "deploy/idri.env.example" in DOCS


def test_the_docs_say_where_the_api_is_and_how_to_get_the_first_admin_token() -> None:
    env = environment("api")
    [(ip, port)] = port_bindings("api")
    assert f"IDRI_API_URL=http://{ip}:{port}" in DOCS
    token = f"{env['IDRI_DATA_DIR']}/admin.token"
    assert f"docker compose exec api cat {token}" in DOCS
    assert "idri user add" in DOCS


def test_the_docs_explain_the_split_and_the_watching_ui() -> None:
    assert "## Who reaches Temporal, and who acts through the API" in DOCS
    assert "### The Web UI: for watching" in DOCS
    for example in ("deploy/ui.env.example", "deploy/temporal.env.example"):
        assert example in DOCS
        assert (ROOT / example).is_file()


def test_the_api_keeps_documents_in_minio_once_its_bucket_exists() -> None:
    """Documents are kept (issue 20, item 11): MinIO in the stack, the bucket made first."""
    assert SERVICES["api"]["depends_on"]["minio-setup"]["condition"] == (
        "service_completed_successfully"
    )
    assert SERVICES["minio-setup"]["depends_on"]["minio"]["condition"] == "service_healthy"
    env = environment("api")
    assert env["IDRI_DOCUMENT_STORE"] == "s3"
    assert env["IDRI_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["IDRI_S3_BUCKET"] == environment("minio-setup")["IDRI_S3_BUCKET"]
    assert named_volumes("minio") == {"minio-data"}
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        document_store=env["IDRI_DOCUMENT_STORE"],
        s3_endpoint_url=env["IDRI_S3_ENDPOINT_URL"],
        s3_bucket=env["IDRI_S3_BUCKET"],
    )
    assert settings.document_store == "s3" and settings.s3_bucket == "idri-documents"
    assert "minio" in DOCS and "IDRI_DOCUMENT_MAX_BYTES" in DOCS
