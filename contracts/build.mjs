#!/usr/bin/env node
// Offline, deterministic build of the govapp contracts.
//
//   node contracts/build.mjs                 compile contracts/src/*.sol, write contracts/artifacts/*.json
//   node contracts/build.mjs --check         compile in memory; exit 1 naming every artifact that is
//                                            missing, different or stale; exit 0 if all match
//   node contracts/build.mjs --artifacts-dir DIR [--check]
//                                            use DIR instead of contracts/artifacts
//
// Compiler: the `solc` npm package (solcjs, pinned in package.json) with a standard-JSON input,
// optimizer on (200 runs), evmVersion "cancun". `@openzeppelin/...` imports are resolved from
// node_modules by the import callback; nothing is fetched from the network.
//
// One artifact per contract defined in contracts/src (not the imported OpenZeppelin ones):
//   {abi, bytecode, compiler, contractName, deployedBytecode, sourceName}
// written as pretty-printed JSON (2 spaces, keys sorted recursively, trailing newline), so the
// output is byte-for-byte identical across runs and machines.
//
// Exit codes: 0 ok, 1 artifacts out of date (--check), 2 compilation errors or bad usage.

import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import solc from "solc";

const CONTRACTS_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.dirname(CONTRACTS_DIR);
const SRC_DIR = path.join(CONTRACTS_DIR, "src");
const NODE_MODULES = path.join(REPO_ROOT, "node_modules");
const DEFAULT_ARTIFACTS_DIR = path.join(CONTRACTS_DIR, "artifacts");
// Source unit names are repo-relative POSIX paths, so the metadata (and hence the bytecode's
// metadata hash) does not depend on where the repository is checked out.
const SOURCE_PREFIX = "contracts/src/";

function usage(message) {
  if (message) console.error(`build.mjs: ${message}`);
  console.error("usage: node contracts/build.mjs [--check] [--artifacts-dir DIR]");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { check: false, artifactsDir: DEFAULT_ARTIFACTS_DIR };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--check") opts.check = true;
    else if (arg === "--artifacts-dir") {
      if (i + 1 >= argv.length) usage("--artifacts-dir needs a value");
      opts.artifactsDir = path.resolve(argv[++i]);
    } else if (arg.startsWith("--artifacts-dir=")) {
      opts.artifactsDir = path.resolve(arg.slice("--artifacts-dir=".length));
    } else if (arg === "-h" || arg === "--help") usage();
    else usage(`unknown argument ${arg}`);
  }
  return opts;
}

/** Recursively sort object keys; arrays keep their order. */
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

function stableJson(value) {
  return JSON.stringify(sortKeys(value), null, 2) + "\n";
}

/** Import callback: resolve `@openzeppelin/...` (and any other package) from node_modules. */
function findImports(importPath) {
  const candidates = [];
  if (importPath.startsWith(SOURCE_PREFIX)) {
    candidates.push(path.join(REPO_ROOT, importPath));
  } else {
    candidates.push(path.join(NODE_MODULES, importPath));
  }
  for (const file of candidates) {
    const resolved = path.resolve(file);
    const allowed = [NODE_MODULES, SRC_DIR].some((dir) => resolved.startsWith(dir + path.sep));
    if (allowed && fs.existsSync(resolved)) {
      return { contents: fs.readFileSync(resolved, "utf8") };
    }
  }
  return {
    error: `import not found: ${importPath} (looked in ${path.relative(REPO_ROOT, NODE_MODULES)}/; run \`npm ci\`)`,
  };
}

function sourceFiles() {
  if (!fs.existsSync(SRC_DIR)) usage(`no source directory ${SRC_DIR}`);
  const files = fs
    .readdirSync(SRC_DIR)
    .filter((name) => name.endsWith(".sol"))
    .sort();
  if (files.length === 0) usage(`no .sol files in ${SRC_DIR}`);
  return files;
}

/** Compile every contracts/src/*.sol; return {artifacts: Map<name, jsonText>, version}. */
function compile() {
  const sources = {};
  for (const file of sourceFiles()) {
    sources[SOURCE_PREFIX + file] = { content: fs.readFileSync(path.join(SRC_DIR, file), "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const version = solc.version();

  const diagnostics = output.errors ?? [];
  const errors = diagnostics.filter((d) => d.severity === "error");
  for (const d of diagnostics) {
    const text = (d.formattedMessage ?? `${d.type}: ${d.message}`).trimEnd();
    console.error(d.severity === "error" ? text : `[${d.severity}] ${text}`);
  }
  if (errors.length > 0) {
    console.error(`build.mjs: compilation failed with ${errors.length} error(s) (solc ${version})`);
    process.exit(2);
  }

  const artifacts = new Map();
  const sourceNames = Object.keys(output.contracts ?? {}).sort();
  for (const sourceName of sourceNames) {
    if (!sourceName.startsWith(SOURCE_PREFIX)) continue; // OpenZeppelin and other dependencies
    for (const contractName of Object.keys(output.contracts[sourceName]).sort()) {
      if (artifacts.has(contractName)) {
        console.error(`build.mjs: contract name ${contractName} is defined twice in contracts/src`);
        process.exit(2);
      }
      const c = output.contracts[sourceName][contractName];
      artifacts.set(
        contractName,
        stableJson({
          abi: c.abi,
          bytecode: "0x" + c.evm.bytecode.object,
          compiler: { name: "solc", version },
          contractName,
          deployedBytecode: "0x" + c.evm.deployedBytecode.object,
          sourceName,
        }),
      );
    }
  }
  return { artifacts, version };
}

function existingArtifactFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort();
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { artifacts, version } = compile();
  const dirLabel = path.relative(process.cwd(), opts.artifactsDir) || ".";
  const expectedFiles = new Set([...artifacts.keys()].map((name) => `${name}.json`));
  const stale = existingArtifactFiles(opts.artifactsDir).filter((f) => !expectedFiles.has(f));

  if (opts.check) {
    const problems = [];
    for (const [name, text] of artifacts) {
      const file = path.join(opts.artifactsDir, `${name}.json`);
      if (!fs.existsSync(file)) problems.push(`missing: ${path.join(dirLabel, `${name}.json`)}`);
      else if (fs.readFileSync(file, "utf8") !== text) {
        problems.push(`differs: ${path.join(dirLabel, `${name}.json`)}`);
      }
    }
    for (const f of stale) problems.push(`stale (no such contract in contracts/src): ${path.join(dirLabel, f)}`);
    if (problems.length > 0) {
      for (const p of problems) console.error(p);
      console.error(
        `build.mjs --check: ${problems.length} artifact(s) out of date; run \`node contracts/build.mjs\``,
      );
      process.exit(1);
    }
    console.log(`build.mjs --check: ${artifacts.size} artifacts up to date (solc ${version})`);
    return;
  }

  fs.mkdirSync(opts.artifactsDir, { recursive: true });
  for (const [name, text] of artifacts) {
    const file = path.join(opts.artifactsDir, `${name}.json`);
    const changed = !fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text;
    if (changed) fs.writeFileSync(file, text);
    console.log(`${changed ? "wrote    " : "unchanged"} ${path.join(dirLabel, `${name}.json`)}`);
  }
  for (const f of stale) {
    fs.unlinkSync(path.join(opts.artifactsDir, f));
    console.log(`removed   ${path.join(dirLabel, f)} (stale)`);
  }
  console.log(`build.mjs: ${artifacts.size} artifacts (solc ${version})`);
}

main();
