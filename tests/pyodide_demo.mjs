// Run clsd's quick demo inside Pyodide (CPython compiled to WebAssembly) under Node.js.
//
//   node tests/pyodide_demo.mjs PYODIDE_DIR [DEMO_ARGS...]
//
// PYODIDE_DIR is the folder of the npm package "pyodide" (the one that contains
// pyodide.mjs, pyodide.asm.wasm and python_stdlib.zip). The script copies
// clsd/*.py and clsd/data/* from this working tree into Pyodide's in-memory
// file system, runs `clsd.demo.main(DEMO_ARGS)` there, and prints the demo's
// output followed by one line "PYODIDE_RESULT <json>" with the exit status, the
// Python version and, when DEMO_ARGS has --json PATH, the demo's JSON report. Every network fetch is rejected, so the run proves that
// nothing is downloaded: Pyodide loads its runtime and standard library from
// PYODIDE_DIR.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [pyodideDir, ...demoArgs] = process.argv.slice(2);
if (!pyodideDir) {
  console.error("usage: node tests/pyodide_demo.mjs PYODIDE_DIR [DEMO_ARGS...]");
  process.exit(2);
}
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");

globalThis.fetch = async (url) => {
  throw new Error(`network access is not allowed in this test: fetch(${url})`);
};

const { loadPyodide } = await import(pathToFileURL(join(resolve(pyodideDir), "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: resolve(pyodideDir) + "/" });

// Copy the package from the working tree; __pycache__ and other folders stay behind.
function copyTree(source, target) {
  pyodide.FS.mkdirTree(target);
  for (const name of readdirSync(source)) {
    const path = join(source, name);
    if (statSync(path).isDirectory()) {
      if (name === "data") copyTree(path, `${target}/${name}`);
    } else if (name.endsWith(".py") || target.endsWith("/data")) {
      pyodide.FS.writeFile(`${target}/${name}`, readFileSync(path));
    }
  }
}
copyTree(join(repo, "clsd"), "/home/pyodide/clsd");

let output = "";
pyodide.setStdout({ batched: (line) => { output += line + "\n"; } });
pyodide.setStderr({ batched: (line) => { output += line + "\n"; } });

pyodide.globals.set("demo_args", pyodide.toPy(demoArgs));
const result = pyodide.runPython(`
import json, sys
sys.path.insert(0, "/home/pyodide")
from clsd.demo import main
args = list(demo_args)
status = main(args)
report = None
if "--json" in args:
    with open(args[args.index("--json") + 1]) as handle:
        report = json.load(handle)
json.dumps({"status": status, "python": sys.version.split()[0], "platform": sys.platform, "report": report})
`);
process.stdout.write(output);
console.log(`PYODIDE_RESULT ${result}`);
