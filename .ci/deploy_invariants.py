"""Checks on rendered Kubernetes manifests that no schema can express.

Usage: python .ci/deploy_invariants.py RENDER_DIR
RENDER_DIR holds base.yaml, dev.yaml, prod.yaml, prod-components.yaml (prod with the opt-in
components), crds.yaml and observability.yaml
(kubectl kustomize output, as .ci/deploy-checks.sh writes them).
Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import filecmp
import re
import sys
from pathlib import Path

import yaml

NAMESPACE = "qna-agent"
CLUSTER_SCOPED = {"Namespace", "ClusterIssuer", "ClusterSecretStore", "ClusterRole"}
REPO = Path(__file__).resolve().parent.parent
# After the drain: store unfinished turns as failed, flush traces (up to 5 s), close pools.
SHUTDOWN_MARGIN_SECONDS = 10.0
# PostgreSQL's default max_connections, less the migration Job, a backup, a restore or psql.
PG_MAX_CONNECTIONS, PG_OTHER_CLIENTS = 100, 5


def load(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def pod_spec(obj: dict) -> dict | None:
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if obj["kind"] in {"Deployment", "StatefulSet", "Job", "CronJob"}:
        return spec["template"]["spec"]
    return None


def pod_template(obj: dict) -> dict:
    """The pod template (metadata and spec) of a workload."""
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]


def vault_injected(obj: dict) -> bool:
    """Whether the Vault Agent Injector adds itself to this workload's pods."""
    annotations = pod_template(obj).get("metadata", {}).get("annotations", {})
    return annotations.get("vault.hashicorp.com/agent-inject") == "true"


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels, matchExpressions with In) picks these labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def check_vault(name: str, docs: list[dict]) -> list[str]:
    """Pods the Vault Agent joins can reach Vault, need no Secret, and Jobs still complete."""
    problems = []
    egress_8200 = [
        policy["spec"]["podSelector"] for policy in docs if policy["kind"] == "NetworkPolicy"
        for rule in policy["spec"].get("egress", []) for port in rule.get("ports", [])
        if port.get("port") == 8200
    ]
    workloads = [obj for obj in docs if pod_spec(obj) is not None]
    app = [o for o in workloads if o["kind"] == "Deployment" and o["metadata"]["name"] == NAMESPACE]
    if app and vault_injected(app[0]):
        for job in workloads:
            labels = pod_template(job)["metadata"].get("labels", {})
            if labels.get("app.kubernetes.io/component") == "migration" and not vault_injected(job):
                problems.append(f"{name}: Job/{job['metadata']['name']}: the app reads Vault, the "
                                "migration Job must too (it would wait for qna-agent-secrets)")
    for obj in workloads:
        if not vault_injected(obj):
            continue
        where = f"{name}: {obj['kind']}/{obj['metadata']['name']}"
        template = pod_template(obj)
        if not any(selects(selector, template["metadata"]["labels"]) for selector in egress_8200):
            problems.append(f"{where}: no NetworkPolicy lets its Vault Agent reach Vault on 8200")
        annotations = template["metadata"]["annotations"]
        if obj["kind"] in {"Job", "CronJob"} and annotations.get("vault.hashicorp.com/agent-pre-populate-only") != "true":
            problems.append(f"{where}: a Vault Agent sidecar would keep the Job from completing")
        for container in template["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if "secretRef" in source and not source["secretRef"].get("optional"):
                    problems.append(f"{where}: still requires Secret {source['secretRef']['name']}")
    return problems


def check_render(name: str, docs: list[dict]) -> list[str]:
    problems = []
    for obj in docs:
        kind, meta = obj["kind"], obj["metadata"]
        where = f"{name}: {kind}/{meta['name']}"
        if kind == "Secret":
            problems.append(f"{where}: Secrets must not be rendered (secret.example.yaml only)")
        if kind not in CLUSTER_SCOPED and meta.get("namespace") != NAMESPACE:
            problems.append(f"{where}: namespace is {meta.get('namespace')!r}, want {NAMESPACE!r}")
        spec = pod_spec(obj)
        if spec is None:
            continue
        # Vault's Kubernetes auth logs in with the pod's token (the token grants no RBAC).
        if spec.get("automountServiceAccountToken") is not False and not vault_injected(obj):
            problems.append(f"{where}: automountServiceAccountToken must be false")
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            image = container["image"]
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problems.append(f"{where}: image {image} needs a fixed tag")
            limits = container.get("resources", {}).get("limits", {})
            if not {"cpu", "memory"} <= limits.keys():
                problems.append(f"{where}: container {container['name']} lacks cpu/memory limits")
    return problems


def check_shutdown(name: str, docs: list[dict]) -> list[str]:
    """preStop + SHUTDOWN_GRACE_SECONDS (the app's whole drain from SIGTERM) + a margin to
    close up must fit in terminationGracePeriodSeconds, which counts from the start of preStop."""
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "qna-agent-config")
    app_grace = float(config["data"].get("SHUTDOWN_GRACE_SECONDS", image_grace_seconds()))
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == NAMESPACE)
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    sleep = float(pre_stop[-1]) if pre_stop[:1] == ["sleep"] else 0.0
    grace = spec["terminationGracePeriodSeconds"]
    if sleep + app_grace + SHUTDOWN_MARGIN_SECONDS > grace:
        return [f"{name}: preStop sleep {sleep} + SHUTDOWN_GRACE_SECONDS {app_grace} + margin "
                f"{SHUTDOWN_MARGIN_SECONDS} > terminationGracePeriodSeconds {grace}"]
    return []


def check_connections(docs: list[dict]) -> list[str]:
    """At maxReplicas the app's pools (pool + as much overflow) must fit in max_connections."""
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "qna-agent-config")
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    pool = int(config["data"].get("DATABASE_POOL_SIZE", 10))
    peak = hpa["spec"]["maxReplicas"] * 2 * pool + PG_OTHER_CLIENTS
    if peak > PG_MAX_CONNECTIONS:
        return [f"prod: {hpa['spec']['maxReplicas']} replicas x 2 x DATABASE_POOL_SIZE {pool} + "
                f"{PG_OTHER_CLIENTS} = {peak} connections > PostgreSQL's {PG_MAX_CONNECTIONS}"]
    return []


def image_grace_seconds() -> float:
    """SHUTDOWN_GRACE_SECONDS as the Dockerfile sets it."""
    match = re.search(r"SHUTDOWN_GRACE_SECONDS=(\d+(?:\.\d+)?)", (REPO / "deploy" / "docker" / "Dockerfile").read_text())
    assert match, "deploy/docker/Dockerfile sets no SHUTDOWN_GRACE_SECONDS"
    return float(match.group(1))


def check_compose_shutdown(compose: dict) -> list[str]:
    """Compose has no preStop: stop_grace_period must cover the drain and the margin."""
    app = compose["services"]["app"]
    app_grace = float(app.get("environment", {}).get("SHUTDOWN_GRACE_SECONDS") or image_grace_seconds())
    stop = float(str(app.get("stop_grace_period", "10s")).removesuffix("s"))
    if app_grace + SHUTDOWN_MARGIN_SECONDS > stop:
        return [f"compose: SHUTDOWN_GRACE_SECONDS {app_grace} + margin {SHUTDOWN_MARGIN_SECONDS} "
                f"> stop_grace_period {stop}"]
    return []


def check_migration_job(docs: list[dict]) -> list[str]:
    """The prod migration Job is named after the release (the app image's tag)."""
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    tag = deployment["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
    jobs = [d for d in docs if d["kind"] == "Job"]
    want = f"qna-agent-migrate-{tag}"
    if [j["metadata"]["name"] for j in jobs] != [want]:
        return [f"prod: migration Job should be one Job named {want}"]
    return []


def ingress_routes(path: str, docs: list[dict]) -> bool:
    """Whether an Ingress in `docs` sends `path` to a backend (Kubernetes path matching)."""
    for obj in docs:
        if obj["kind"] != "Ingress":
            continue
        if obj["spec"].get("defaultBackend"):
            return True
        for rule in obj["spec"].get("rules", []):
            for entry in rule.get("http", {}).get("paths", []):
                prefix = entry["path"].rstrip("/")
                if entry["pathType"] == "Exact":
                    if path == entry["path"]:
                        return True
                elif not prefix or path == prefix or path.startswith(prefix + "/"):
                    return True
    return False


def secret_ref(container: dict, variable: str) -> dict | None:
    """The secretKeyRef an env variable of `container` comes from, if any."""
    for env in container.get("env", []):
        if env["name"] == variable:
            return env.get("valueFrom", {}).get("secretKeyRef")
    return None


def check_prod_access(prod: list[dict], monitors: list[dict]) -> list[str]:
    """/metrics is off the Ingress and needs the token Prometheus sends; keys are mounted."""
    problems = []
    if ingress_routes("/metrics", prod):
        problems.append("prod: the Ingress routes /metrics; it is for Prometheus inside the cluster")
    deployment = next(d for d in prod if d["kind"] == "Deployment" and d["metadata"]["name"] == NAMESPACE)
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    token = secret_ref(container, "METRICS_TOKEN")
    if not token or token.get("optional", False):
        problems.append("prod: METRICS_TOKEN must come from a required secretKeyRef")
    elif monitors:
        for monitor in monitors:
            endpoints = monitor["spec"].get("endpoints", []) + monitor["spec"].get("podMetricsEndpoints", [])
            for endpoint in endpoints:
                sent = endpoint.get("authorization", {}).get("credentials", {})
                if (sent.get("name"), sent.get("key")) != (token["name"], token["key"]):
                    problems.append(f"{monitor['kind']}/{monitor['metadata']['name']}: must send the "
                                    f"METRICS_TOKEN of Secret {token['name']} key {token['key']}")
    config = next(d for d in prod if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "qna-agent-config")
    keys_file = config["data"].get("API_KEYS_FILE", "")
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volume = next((v for v in spec["volumes"] if v["name"] == mounts.get(str(Path(keys_file).parent))), {})
    if not keys_file or volume.get("secret", {}).get("optional", True):
        problems.append("prod: API_KEYS_FILE must name a file in a mounted, required Secret")
    return problems


def check_knowledge_copies() -> list[str]:
    """deploy/k8s/base/knowledge/ holds copies of examples/knowledge/ files; they must match."""
    examples = REPO / "examples" / "knowledge"
    if not examples.is_dir():
        return []
    problems = []
    for copy in sorted((REPO / "deploy" / "k8s" / "base" / "knowledge").iterdir()):
        original = examples / copy.name
        if not original.exists() or not filecmp.cmp(copy, original, shallow=False):
            problems.append(f"deploy/k8s/base/knowledge/{copy.name} differs from examples/knowledge/")
    return problems


def main() -> int:
    render_dir = Path(sys.argv[1])
    problems: list[str] = []
    renders = {
        name: load(render_dir / f"{name}.yaml") for name in ("base", "dev", "prod", "prod-components")
    }
    for name, docs in renders.items():
        problems += check_render(name, docs)
        problems += check_shutdown(name, docs)
        problems += check_vault(name, docs)
    problems += check_migration_job(renders["prod"])
    problems += check_connections(renders["prod"])
    monitors = [
        d for name in ("crds", "observability") for d in load(render_dir / f"{name}.yaml")
        if d["kind"] in {"ServiceMonitor", "PodMonitor"}
    ]
    problems += check_prod_access(renders["prod"], monitors)
    problems += check_compose_shutdown(yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text()))
    problems += check_knowledge_copies()
    for problem in problems:
        print(f"invariant: {problem}")
    print(f"invariants: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
