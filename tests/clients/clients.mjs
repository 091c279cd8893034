// Uses the served OpenAPI document as clients do, as it is, against a running server:
//
// 1. Postman: converts the document with Postman's own converter (openapi-to-postmanv2, with
//    the options of Postman's import: parameters from the examples) and runs the collection with
//    Postman's runner (newman), nothing set but the collection's `baseUrl`. The streams, which
//    never end, are not run: their requests, resolved as newman would send them, are listed for
//    the caller to open.
// 2. A generated client: openapi-typescript turns the document into types, and `client.ts`,
//    written against them, must pass `tsc --noEmit`.
//
//   node tests/clients/clients.mjs BASE_URL OUT_DIR
//
// Leaves in OUT_DIR: openapi.json, collection.json, newman.json (newman's JSON report),
// streams.json ([{name, url, headers}]), leaderboard.d.ts (the generated types) and the
// tsconfig.json that compiles client.ts against them. Judging the
// run is the caller's (tests/api/clients.rs). Exits 0 when every step ran; otherwise prints
// `FAIL: reason` and exits 1.

import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import newman from "newman";
import converter from "openapi-to-postmanv2";
import openapiTS, { astToString } from "openapi-typescript";
import postman from "postman-collection";

const { Property, Url } = postman;
const HERE = dirname(fileURLToPath(import.meta.url));
/** A generous bound for a loaded 2-core machine: a deadline, not a latency claim. */
const REQUEST_TIMEOUT_MS = 20_000;

const [base, out] = process.argv.slice(2);
if (!base || !out) {
  console.error("usage: node tests/clients/clients.mjs BASE_URL OUT_DIR");
  process.exit(2);
}

function fail(reason) {
  console.log(`FAIL: ${reason}`);
  process.exit(1);
}

function write(name, value) {
  writeFileSync(join(out, name), typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

/** The document as a client fetches it. */
async function served() {
  const response = await fetch(`${base}/openapi.json`);
  if (!response.ok) fail(`GET /openapi.json answered ${response.status}`);
  return response.json();
}

/** Postman's import of the document (the converter's current interface, as its CLI and
 * Postman use): folders by path, parameters from the examples. */
async function collectionOf(document) {
  const convert = promisify(converter.convertV2);
  const options = { parametersResolution: "Example", folderStrategy: "Paths" };
  const result = await convert({ type: "json", data: document }, options);
  if (!result.result) fail(`the converter refused the document: ${result.reason}`);
  return result.output[0].data;
}

const isStream = (item) =>
  (item.request.header ?? []).some((h) => h.key.toLowerCase() === "accept" && h.value === "text/event-stream");

/** The collection without its streams, and the streams' requests as newman would send them. */
function split(collection) {
  const streams = [];
  const prune = (items) =>
    items
      .map((item) => (item.item ? { ...item, item: prune(item.item) } : item))
      .filter((item) => {
        if (item.item) return item.item.length > 0;
        if (!isStream(item)) return true;
        const url = Property.replaceSubstitutions(new Url(item.request.url).toString(), { baseUrl: base });
        const headers = Object.fromEntries((item.request.header ?? []).map((h) => [h.key, h.value]));
        streams.push({ name: item.name, url, headers });
        return false;
      });
  return { runnable: { ...collection, item: prune(collection.item) }, streams };
}

/** Runs the collection with newman, pointing `baseUrl` at the server; the report is written. */
async function run(collection) {
  const summary = await promisify(newman.run)({
    collection,
    envVar: [{ key: "baseUrl", value: base }],
    reporters: ["json"],
    reporter: { json: { export: join(out, "newman.json") } },
    timeoutRequest: REQUEST_TIMEOUT_MS,
  });
  console.log(`ok: newman ran ${summary.run.executions.length} requests`);
}

/** Generates the types and compiles client.ts against them (the module `leaderboard-api`). */
async function typescript(document) {
  write("leaderboard.d.ts", astToString(await openapiTS(document)));
  write("tsconfig.json", {
    extends: join(HERE, "tsconfig.json"),
    compilerOptions: { paths: { "leaderboard-api": ["./leaderboard.d.ts"] } },
    files: [join(HERE, "client.ts")],
  });
  const tsc = join(HERE, "node_modules/typescript/bin/tsc");
  const compiled = spawnSync(process.execPath, [tsc, "--noEmit", "-p", join(out, "tsconfig.json")], {
    encoding: "utf8",
  });
  if (compiled.status !== 0) fail(`client.ts does not compile:\n${compiled.stdout}${compiled.stderr}`);
  console.log("ok: client.ts compiles against the generated types");
}

mkdirSync(out, { recursive: true });
const document = await served();
write("openapi.json", document);
const collection = await collectionOf(document);
write("collection.json", collection);
const { runnable, streams } = split(collection);
write("streams.json", streams);
await run(runnable);
await typescript(document);
