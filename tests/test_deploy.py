"""The deployment files (deploy/): each is valid YAML with the fields ganstab relies on, and the
search command each one runs is one that `ganstab search` accepts. The cluster launcher's file is
also checked by Ray's own `prepare_config` and `validate_config` (its schema, ray-schema.json);
KubeRay's CRDs are not installed here, so the RayCluster is checked field by field against the
ray.io/v1 names (headGroupSpec, workerGroupSpecs, rayStartParams, template)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from ganstab.cli import build_parser
from ganstab.search.storage_server import PORT_ENV

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _docs(path: Path) -> dict[str, dict[str, Any]]:
    """The YAML documents of a file by kind (each file holds one of each kind)."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    kinds = [d["kind"] for d in docs]
    assert len(set(kinds)) == len(kinds), kinds
    return {d["kind"]: d for d in docs}


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def _ray_pin() -> str:
    """The Ray version ganstab requires (pyproject's `ray[tune]==X.Y.*`), as X.Y."""
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'"ray\[tune\]==(\d+\.\d+)\.\*"', text).group(1)


def _search_args(command: str) -> list[str]:
    """The arguments after `ganstab search` in a shell command, with the optional storage
    expansion `${GANSTAB_STORAGE:+--storage "$GANSTAB_STORAGE"}` given a PostgreSQL URL."""
    command = command.replace('${GANSTAB_STORAGE:+--storage "$GANSTAB_STORAGE"}', "--storage postgresql://u@db/x")
    command = command.replace('"$@"', "").replace("\\\n", " ")
    words = shlex.split(command)
    start = next(i for i in range(len(words) - 1) if words[i : i + 2] == ["ganstab", "search"])
    return words[start + 2 :]


def _check_search_command(command: str) -> Any:
    """`ganstab search`'s own parser accepts the command (an unknown option exits)."""
    args = build_parser().parse_args(["search", *_search_args(command)])
    assert args.storage == "postgresql://u@db/x" and args.gpus_per_cohort == 1
    return args


# ------------------------------------------------------------------------------- KubeRay


def test_the_kuberay_raycluster_has_what_ganstab_relies_on() -> None:
    docs = _docs(DEPLOY / "kuberay" / "raycluster.yaml")
    cluster = docs["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert spec["rayVersion"].startswith(_ray_pin() + "."), spec["rayVersion"]  # the driver's Ray = the nodes'
    head = spec["headGroupSpec"]
    assert set(head) >= {"rayStartParams", "template"}
    assert head["rayStartParams"]["num-cpus"] == "0"  # the driver's pod trains no cohort
    (head_box,) = head["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in head_box["ports"]}
    assert ports["gcs-server"] == 6379 and ports["client"] == 10001
    env = _env(head_box)
    assert ports["ganstab-store"] == int(env[PORT_ENV]["value"])  # the gRPC proxy's fixed port is open
    assert env["GANSTAB_STORAGE"]["valueFrom"]["secretKeyRef"]["optional"] is True  # unset: SQLite
    mounts = {m["name"]: m["mountPath"] for m in head_box["volumeMounts"]}
    claim = head["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert claim == docs["PersistentVolumeClaim"]["metadata"]["name"]  # runs/ survive the head pod
    (group,) = spec["workerGroupSpecs"]
    assert set(group) >= {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"}
    assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    (worker_box,) = group["template"]["spec"]["containers"]
    assert int(worker_box["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert worker_box["image"] == head_box["image"]  # one image: the same Ray and ganstab everywhere
    assert "GANSTAB_STORAGE" in _env(worker_box)

    # the image is deploy/Dockerfile's: Ray of the pinned version with ganstab installed
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f"FROM rayproject/ray:{_ray_pin()}." in dockerfile
    assert re.search(r"pip install .*ganstab-src\[postgres", dockerfile)
    assert f"WORKDIR {mounts['search']}" in dockerfile

    # the search: a RayJob on this cluster, run in the head's search folder
    job = _docs(DEPLOY / "kuberay" / "rayjob-search.yaml")["RayJob"]
    assert job["apiVersion"] == "ray.io/v1"
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    assert job["spec"]["entrypoint"].startswith(f"cd {mounts['search']} &&")
    args = _check_search_command(job["spec"]["entrypoint"])
    assert args.address is None  # a Ray job's driver joins its cluster through RAY_ADDRESS
    cpu = int(worker_box["resources"]["requests"]["cpu"])
    assert args.cpus_per_cohort <= cpu and args.gpus_per_cohort <= int(worker_box["resources"]["limits"]["nvidia.com/gpu"])


def test_the_postgresql_service_is_the_one_the_storage_url_names() -> None:
    docs = _docs(DEPLOY / "kuberay" / "postgres.yaml")
    secret, service, db = docs["Secret"], docs["Service"], docs["StatefulSet"]
    url = secret["stringData"]["url"]
    m = re.fullmatch(r"postgresql://(\w+):([^@]+)@([\w-]+):(\d+)/(\w+)", url)
    assert m, url
    user, password, host, port, name = m.groups()
    assert host == service["metadata"]["name"] and int(port) == service["spec"]["ports"][0]["port"]
    assert service["spec"]["selector"].items() <= db["spec"]["template"]["metadata"]["labels"].items()
    (box,) = db["spec"]["template"]["spec"]["containers"]
    env = _env(box)
    assert env["POSTGRES_USER"]["value"] == user and env["POSTGRES_DB"]["value"] == name
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    assert password == secret["stringData"]["password"]
    assert db["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] in {m["name"] for m in box["volumeMounts"]}
    # the RayCluster's pods read this Secret's url as GANSTAB_STORAGE
    cluster = _docs(DEPLOY / "kuberay" / "raycluster.yaml")["RayCluster"]
    (head_box,) = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
    ref = _env(head_box)["GANSTAB_STORAGE"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"] and ref["key"] == "url"


# ------------------------------------------------------------------------------- cluster launcher


def test_the_cluster_launcher_yaml_passes_rays_own_validation() -> None:
    pytest.importorskip("ray")
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((DEPLOY / "cluster-launcher.yaml").read_text())
    validate_config(prepare_config(config))  # Ray's schema (ray-schema.json) and its own checks
    with pytest.raises(Exception, match="head_node_typo"):  # the check does refuse a wrong field
        validate_config(prepare_config({**config, "head_node_typo": "x"}))


def test_the_cluster_launcher_yaml_has_what_ganstab_relies_on() -> None:
    config = yaml.safe_load((DEPLOY / "cluster-launcher.yaml").read_text())
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0  # the driver's machine trains no cohort
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert workers and all(t["resources"].get("GPU", 0) >= 1 for t in workers)
    assert any("ray start --head --port=6379" in c for c in config["head_start_ray_commands"])
    assert any("ray start --address=$RAY_HEAD_IP:6379" in c for c in config["worker_start_ray_commands"])
    setup = " ".join(config["setup_commands"])
    assert f'"ray[default,tune]=={_ray_pin()}.*"' in setup and "ganstab-src[postgres" in setup
    assert config["file_mounts"]["~/ganstab-src"] == "."  # the checkout, deploy/ganstab-search.sh included

    script = (DEPLOY / "ganstab-search.sh").read_text()
    assert f'export {PORT_ENV}="${{{PORT_ENV}:-50051}}"' in script
    args = _check_search_command(script.split("exec ", 1)[1])
    assert args.address == "auto"  # the head is a node of the cluster it joins
    cpus = min(t["resources"]["CPU"] for t in workers)
    assert args.cpus_per_cohort <= cpus
