"""Rules of the prod overlay that no schema checks: the Ingress routes every public route of
the app and never /metrics, the monitors send the token the app requires, the bootstrap key file
is mounted, the pools fit PostgreSQL at maxReplicas, and shutdown fits the grace period with
SHUTDOWN_GRACE_SECONDS as the whole drain. The checks are .ci/deploy_invariants.py's (CI runs
them on every render); here they also meet the app's real routes, and a broken manifest each."""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from starlette.routing import Mount

from qna_agent.main import create_app
from tests.support.app import ROOT, make_settings

PROD = ROOT / "deploy" / "k8s" / "overlays" / "prod"
MONITORS = [PROD / "crds" / "service-monitor.yaml"]
MONITORS.append(ROOT / "deploy" / "observability" / "kubernetes" / "pod-monitor.yaml")


def _invariants() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "deploy_invariants", ROOT / ".ci" / "deploy_invariants.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


invariants = _invariants()


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def public_paths(tmp_path: Path) -> list[str]:
    """A concrete path for every documented route, the page, its assets and the API docs."""
    app = create_app(make_settings(tmp_path))
    paths = ["/", "/static/app.js"]
    paths += [p for p in (app.docs_url, app.redoc_url, app.openapi_url) if p]
    paths += [p.replace("{", "").replace("}", "") for p in app.openapi()["paths"]]
    mounts = [route.path for route in app.routes if isinstance(route, Mount)]
    assert mounts == ["/static"], f"mounts {mounts}: route a new one in ingress.yaml"
    return paths


def test_the_ingress_routes_every_public_route_and_not_metrics(tmp_path: Path) -> None:
    ingress = load(PROD / "ingress.yaml")
    paths = public_paths(tmp_path)
    assert {"/chats", "/kb/search", "/v1/chat/completions", "/keys", "/health/ready"} <= set(paths)
    missing = [path for path in paths if not invariants.ingress_routes(path, ingress)]
    assert not missing, f"not reachable through deploy/k8s/overlays/prod/ingress.yaml: {missing}"
    for internal in ("/metrics", "/metrics/", "/healthz"):
        assert not invariants.ingress_routes(internal, ingress), internal


def test_kubernetes_path_matching() -> None:
    def ingress(path: str, kind: str) -> list[dict[str, Any]]:
        entry = {"path": path, "pathType": kind}
        return [{"kind": "Ingress", "spec": {"rules": [{"http": {"paths": [entry]}}]}}]

    assert invariants.ingress_routes("/metrics", ingress("/", "Prefix"))
    assert invariants.ingress_routes("/chats/1", ingress("/chats/", "Prefix"))
    assert not invariants.ingress_routes("/chatsx", ingress("/chats", "Prefix"))
    assert not invariants.ingress_routes("/chats/1", ingress("/chats", "Exact"))


def render(directory: Path) -> list[dict[str, Any]]:
    """A kustomization as kubectl renders it."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl renders the overlay (CI's deploy checks need it too)")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


@pytest.fixture(scope="module")
def prod() -> list[dict[str, Any]]:
    """The prod overlay as kubectl renders it."""
    return render(PROD)


@pytest.fixture(scope="module")
def prod_with_vault(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The prod overlay with the Vault Agent component, applied as a user's overlay would."""
    overlay = tmp_path_factory.mktemp("overlay")
    k8s = Path(os.path.relpath(ROOT / "deploy" / "k8s", overlay))
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{k8s / 'overlays' / 'prod'}]\n"
        f"components: [{k8s / 'components' / 'vault-agent'}]\n"
    )
    return render(overlay)


def monitors() -> list[dict[str, Any]]:
    return [doc for path in MONITORS for doc in load(path)]


def app_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "qna-agent"
    )
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_the_shipped_prod_overlay_passes(prod: list[dict[str, Any]]) -> None:
    assert invariants.check_prod_access(prod, monitors()) == []


def _public_metrics(docs: list[dict[str, Any]], _: list[dict[str, Any]]) -> str:
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    ingress["spec"]["rules"][0]["http"]["paths"].append(
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "qna-agent"}}}
    )
    return "routes /metrics"


def _optional_token(docs: list[dict[str, Any]], _: list[dict[str, Any]]) -> str:
    app_container(docs)["env"][0]["valueFrom"]["secretKeyRef"]["optional"] = True
    return "METRICS_TOKEN must come from a required secretKeyRef"


def _monitor_without_token(_: list[dict[str, Any]], found: list[dict[str, Any]]) -> str:
    del found[0]["spec"]["endpoints"][0]["authorization"]
    return "ServiceMonitor/qna-agent: must send the METRICS_TOKEN"


def _optional_key_file(docs: list[dict[str, Any]], _: list[dict[str, Any]]) -> str:
    deployment = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "qna-agent"
    )
    for volume in deployment["spec"]["template"]["spec"]["volumes"]:
        if volume["name"] == "api-keys":
            volume["secret"]["optional"] = True
    return "API_KEYS_FILE must name a file in a mounted, required Secret"


@pytest.mark.parametrize(
    "breakage", [_public_metrics, _optional_token, _monitor_without_token, _optional_key_file]
)
def test_a_broken_prod_overlay_is_named(prod: list[dict[str, Any]], breakage: Any) -> None:
    docs, found = copy.deepcopy(prod), monitors()
    expected = breakage(docs, found)
    problems = invariants.check_prod_access(docs, found)
    assert any(expected in problem for problem in problems), problems


def test_shutdown_fits_the_grace_period_as_shipped(prod: list[dict[str, Any]]) -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert invariants.check_shutdown("prod", prod) == []
    assert invariants.check_compose_shutdown(compose) == []


def test_a_grace_period_without_room_to_close_up_is_named(prod: list[dict[str, Any]]) -> None:
    """preStop 5 + drain 25 fits in 35 s only if the app may not take its full drain time."""
    docs = copy.deepcopy(prod)
    deployment = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "qna-agent"
    )
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 35
    assert invariants.check_shutdown("prod", docs) == [
        "prod: preStop sleep 5.0 + SHUTDOWN_GRACE_SECONDS 25.0 + margin 10.0 "
        "> terminationGracePeriodSeconds 35"
    ]
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    compose["services"]["app"]["stop_grace_period"] = "30s"
    assert invariants.check_compose_shutdown(compose) == [
        "compose: SHUTDOWN_GRACE_SECONDS 25.0 + margin 10.0 > stop_grace_period 30.0"
    ]


def test_connections_fit_postgres_at_max_replicas(prod: list[dict[str, Any]]) -> None:
    assert invariants.check_connections(prod) == []
    docs = copy.deepcopy(prod)
    config = next(d for d in docs if d["metadata"]["name"] == "qna-agent-config")
    config["data"]["DATABASE_POOL_SIZE"] = "10"  # the app's default: 200 at 10 replicas
    assert invariants.check_connections(docs) == [
        "prod: 10 replicas x 2 x DATABASE_POOL_SIZE 10 + 5 = 205 connections > PostgreSQL's 100"
    ]


def test_the_vault_component_reaches_vault_and_needs_no_secret(
    prod_with_vault: list[dict[str, Any]],
) -> None:
    assert invariants.check_vault("vault", prod_with_vault) == []
    assert invariants.check_render("vault", prod_with_vault) == []
    job = next(d for d in prod_with_vault if d["kind"] == "Job")
    assert invariants.vault_injected(job)


def _without(kind: str, name: str) -> Any:
    def breakage(docs: list[dict[str, Any]]) -> None:
        docs[:] = [d for d in docs if (d["kind"], d["metadata"]["name"]) != (kind, name)]

    return breakage


def _job(change: str) -> Any:
    def breakage(docs: list[dict[str, Any]]) -> None:
        template = next(d for d in docs if d["kind"] == "Job")["spec"]["template"]
        if change == "sidecar":
            del template["metadata"]["annotations"]["vault.hashicorp.com/agent-pre-populate-only"]
        elif change == "secret":
            template["spec"]["containers"][0]["envFrom"][1]["secretRef"]["optional"] = False
        else:
            template["metadata"]["annotations"].clear()

    return breakage


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (_without("NetworkPolicy", "vault-agent-egress"), "reach Vault on 8200"),
        (_job("sidecar"), "keep the Job from completing"),
        (_job("secret"), "still requires Secret qna-agent-secrets"),
        (_job("not injected"), "the migration Job must too"),
    ],
)
def test_a_broken_vault_component_is_named(
    prod_with_vault: list[dict[str, Any]], breakage: Any, expected: str
) -> None:
    docs = copy.deepcopy(prod_with_vault)
    breakage(docs)
    problems = invariants.check_vault("vault", docs)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "path",
    [
        "deploy/k8s/overlays/prod/my-secrets.yaml",  # the quick start's
        "my-secrets.yaml",
        "deploy/k8s/base/secret.yaml",  # the example, copied and filled in
        "api-keys",  # the bootstrap key file of "The first admin key"
    ],
)
def test_the_files_the_guide_has_you_write_are_git_ignored(path: str) -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        [git, "-C", str(ROOT), "check-ignore", "--no-index", "--quiet", path],
        check=False,
        timeout=30,
    )
    assert ignored.returncode == 0, f"{path} is not git-ignored"
