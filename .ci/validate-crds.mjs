// Validates custom resources (cert-manager, External Secrets, Prometheus Operator)
// in rendered manifests; kubernetes-validate has no schemas for them. Two checks,
// both from the @kubernetes-models npm packages (generated from the CRDs):
//  1. the CRD's JSON schema (required fields, types, enums, patterns), and
//  2. unknown fields, which the API server would silently drop: each resource is
//     type-checked as an object literal against the package's TypeScript types,
//     so a misspelt key is an excess-property error.
// Usage: NODE_PATH=DIR/node_modules node .ci/validate-crds.mjs FILE...
// Exit 1 on an invalid resource, an unknown custom kind, or an unknown field.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

// ESM ignores NODE_PATH, so model files are located by path under it.
const nodeModules = path.resolve(process.env.NODE_PATH ?? "node_modules");
const require = createRequire(path.join(nodeModules, "noop.js"));
const { parseAllDocuments } = require("yaml");

// API group -> npm package holding its models.
const PACKAGES = {
  "cert-manager.io": "@kubernetes-models/cert-manager",
  "acme.cert-manager.io": "@kubernetes-models/cert-manager",
  "external-secrets.io": "@kubernetes-models/external-secrets",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

let failures = 0;
const typed = []; // [where, module, kind, object] for the unknown-field check

for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.error(`${file}: YAML error: ${doc.errors[0].message}`);
      failures++;
      continue;
    }
    const obj = doc.toJS();
    if (!obj || !obj.apiVersion || !obj.apiVersion.includes("/")) continue;
    const [group, version] = obj.apiVersion.split("/");
    if (!group.includes(".") || group.endsWith(".k8s.io")) continue; // built-in kinds
    const where = `${file}: ${obj.kind}/${obj.metadata?.name}`;
    const pkg = PACKAGES[group];
    const modelFile = pkg && path.join(nodeModules, pkg, group, version, `${obj.kind}.js`);
    if (!pkg || !existsSync(modelFile)) {
      console.error(`${where}: no schema known for ${obj.apiVersion} ${obj.kind}`);
      failures++;
      continue;
    }
    const Model = (await import(pathToFileURL(modelFile).href))[obj.kind];
    try {
      new Model(obj).validate();
      typed.push([where, `${pkg}/${group}/${version}/${obj.kind}`, obj.kind, obj]);
    } catch (err) {
      failures++;
      console.error(`${where}: invalid: ${err.message}`);
    }
  }
}

if (typed.length) {
  const lines = typed.flatMap(([, mod, kind, obj], i) => [
    `import type { I${kind} as T${i} } from "${mod}";`,
    `export const r${i}: T${i} =\n${JSON.stringify(obj, null, 1)};`,
  ]);
  // Next to node_modules so that the imports resolve.
  const checkFile = path.join(path.dirname(nodeModules), "crd-check.ts");
  writeFileSync(checkFile, lines.join("\n") + "\n");
  const tsc = path.join(nodeModules, "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--pretty", "false",
      "--module", "nodenext", "--moduleResolution", "nodenext", checkFile], { encoding: "utf8" });
  } catch (err) {
    const out = `${err.stdout ?? ""}${err.stderr ?? ""}`.trim();
    // Map "crd-check.ts(LINE,COL)" back to the resource it belongs to.
    const starts = [];
    let line = 1;
    for (const [i, text] of lines.entries()) {
      if (i % 2 === 1) starts.push(line);
      line += text.split("\n").length;
    }
    for (const msg of out.split("\n")) {
      const at = Number(/\((\d+),\d+\)/.exec(msg)?.[1] ?? 0);
      const index = starts.findLastIndex((start) => start <= at);
      console.error(`${index >= 0 ? typed[index][0] : "?"}: ${msg.replace(/^.*?error /, "")}`);
      failures++;
    }
    typed.length = 0;
  }
  for (const [where, , , obj] of typed) console.log(`ok ${where} (${obj.apiVersion})`);
}
console.log(`custom resources: ${typed.length} valid, ${failures} failed`);
process.exit(failures ? 1 : 0);
