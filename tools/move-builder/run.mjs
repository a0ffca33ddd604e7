// Build or unit-test a Move package with the Sui compiler in WASM (@zktx.io/sui-move-builder).
// Usage: node run.mjs build|test <package-dir> [--out bytecode.json]
// Framework sources: SUI_FRAMEWORK_DIR (a local `crates/sui-framework/packages` checkout), or GitHub.
import { readFileSync, readdirSync, statSync, existsSync, writeFileSync } from "node:fs";
import { join, relative, basename } from "node:path";

const [mode, pkgDir, ...rest] = process.argv.slice(2);
if (!["build", "test"].includes(mode) || !pkgDir) {
  console.error("usage: node run.mjs build|test <package-dir> [--out file]");
  process.exit(2);
}
const outIdx = rest.indexOf("--out");
const outFile = outIdx >= 0 ? rest[outIdx + 1] : null;
// Paths (relative to the package) left out of the snapshot, e.g. tests/crypto under WASM.
const EXCLUDE = (process.env.HAULOUT_MOVE_EXCLUDE || "").split(",").filter(Boolean);

function snapshot(dir, { includeTests }) {
  const files = {};
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      if (["build", ".git", "node_modules"].includes(name)) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".move") || name === "Move.toml" || name === "Move.lock") {
        const rel = relative(dir, p).split("\\").join("/");
        if (!includeTests && rel.startsWith("tests/")) continue;
        if (EXCLUDE.some((x) => rel.startsWith(x))) continue;
        files[rel] = readFileSync(p, "utf8");
      }
    }
  };
  walk(dir);
  return files;
}

// Maps the framework's git dependencies (MystenLabs/sui, crates/sui-framework/packages/<name>)
// onto a local checkout, so builds work offline.
class LocalFrameworkFetcher {
  constructor(root) { this.root = root; }
  dirFor(subdir) {
    const name = basename(subdir || "");
    const dir = join(this.root, name);
    if (!existsSync(dir)) throw new Error(`framework package ${name} not found under ${this.root}`);
    return dir;
  }
  async fetch(_gitUrl, _rev, subdir) {
    const files = snapshot(this.dirFor(subdir), { includeTests: false });
    const out = {};
    for (const [k, v] of Object.entries(files)) out[k] = v;
    return out;
  }
  async fetchFile(_gitUrl, _rev, path) {
    const marker = "crates/sui-framework/packages/";
    const i = path.indexOf(marker);
    const p = i >= 0 ? join(this.root, path.slice(i + marker.length)) : join(this.root, path);
    return existsSync(p) ? readFileSync(p, "utf8") : null;
  }
  getResolvedSha() { return "0000000000000000000000000000000000000000"; }
  async fetchLocal(localPath) { return snapshot(localPath, { includeTests: false }); }
}

const lib = await import(mode === "test" ? "@zktx.io/sui-move-builder/full" : "@zktx.io/sui-move-builder");
await lib.initMovePackageBuilder();
const files = snapshot(pkgDir, { includeTests: mode === "test" });
const options = { files, network: "mainnet", silenceWarnings: false, ansiColor: false };
const fw = process.env.SUI_FRAMEWORK_DIR;
if (fw) {
  if (!existsSync(join(fw, "sui-framework"))) {
    console.error(`SUI_FRAMEWORK_DIR=${fw} has no sui-framework/ package`);
    process.exit(3);
  }
  options.fetcher = new LocalFrameworkFetcher(fw);
}
const result = mode === "test" ? await lib.testMovePackage(options) : await lib.dumpMovePackage(options);
if ("error" in result) {
  console.error(`[${result.category}] ${result.error}`);
  process.exit(1);
}
if (mode === "test") {
  process.stdout.write(result.output ?? "");
  const passed = result.passed ?? !/FAILED|Test result: FAILED/.test(result.output ?? "");
  process.exit(passed ? 0 : 1);
}
const out = { modules: result.modules, dependencies: result.dependencies, digest: Array.from(result.digest ?? []) };
if (result.warnings) console.error(result.warnings);
if (outFile) writeFileSync(outFile, JSON.stringify(out, null, 1));
console.log(`built ${result.modules.length} modules; dependencies ${result.dependencies.join(", ")}`);
