#!/usr/bin/env node
// kql-analyzer: checks KQL texts with Microsoft's official Kusto.Language analyzer
// (npm package @kusto/language-service-next, the Bridge.NET build of Kusto.Language).
//
// Usage:
//   node analyze.js [--table NAME] [--script] [--strict] FILE...
//   node analyze.js [--table NAME] [--script] [--strict] --stdin   < [{"name": "...", "kql": "...", "script": false}, ...]
//   node analyze.js --self-test
//
// Schema: cluster `adx`, database `leaderboard` (the default database) with table
//   GamePlay(PlayerID:int, GameID:int, Win:long, Stake:int, EventTime:datetime)
// `--table NAME` renames the table (to check texts generated for a configured table name).
//
// Texts:
//   * A FILE is one query text, unless its name ends in `setup.kql` or `--script` is given: then it
//     is an ADX setup script, one control command per paragraph (paragraphs are separated by blank
//     lines; paragraphs made only of `//` comment lines are skipped). Each command is analyzed on
//     its own and must parse as exactly one control command.
//   * With --stdin, each array element is one text; `"script": true` (or a name ending in
//     `setup.kql`, or --script) makes it a setup script as above.
//   * A non-script text starting with `.` is checked as a single control command; otherwise it
//     must be a (non-empty) query.
//
// Diagnostics reported (severity, code, message, line/column and the offending line):
//   * KustoCode.GetDiagnostics()                      (parser + semantic analysis, codes KSnnn)
//   * KustoCodeService.GetAnalyzerDiagnostics()       (built-in lint analyzers, codes KS5nn)
//   * checks added here, because Kusto.Language accepts these silently (codes KQLAnnn):
//       KQLA001 control command not recognized by Kusto.Language (parsed as UnknownCommand)
//       KQLA002 tokens the command grammar does not cover (parser skipped them without a diagnostic)
//       KQLA003 text is not of the expected kind (script paragraph not a command, etc.)
//       KQLA004 wrong number of statements (empty query, several commands in one paragraph)
// Severities Error and Warning fail the text; Suggestion/Information/Hidden are printed as notes
// and fail only with --strict.
//
// Output: `ok NAME` or `FAIL NAME`, each followed by its diagnostics, then a summary line.
// Exit status: 0 all clean, 1 some text has failing diagnostics, 2 usage/input error.
// `--self-test` runs known-good and known-bad samples and exits 1 unless every good sample is
// clean and every bad sample is flagged (proving the checker can fail).
'use strict';

const fs = require('fs');
const path = require('path');

require('@kusto/language-service-next/bridge.js'); // defines global `Bridge` (and `System`)
require('@kusto/language-service-next/Kusto.Language.Bridge.js'); // defines global `Kusto`

const K = Kusto.Language;
const Sym = K.Symbols;
const SyntaxKind = K.Syntax.SyntaxKind;

const DEFAULT_TABLE = 'GamePlay';
const DATABASE = 'leaderboard';
const CLUSTER = 'adx';
const TABLE_SCHEMA = '(PlayerID:int, GameID:int, Win:long, Stake:int, EventTime:datetime)';
const FAILING_SEVERITIES = new Set(['Error', 'Warning']);

const USAGE =
  'usage: node analyze.js [--table NAME] [--script] [--strict] FILE...\n' +
  '       node analyze.js [--table NAME] [--script] [--strict] --stdin   (JSON array of {"name","kql"[,"script"]})\n' +
  '       node analyze.js --self-test';

class UsageError extends Error {}

// GlobalState instances are memoized: Kusto.Language caches grammars/bindings per GlobalState,
// so reusing one is much faster than rebuilding it.
const globalsCache = new Map();
function makeGlobals(tableName) {
  if (!globalsCache.has(tableName)) globalsCache.set(tableName, buildGlobals(tableName));
  return globalsCache.get(tableName);
}

function buildGlobals(tableName) {
  const table = new Sym.TableSymbol.$ctor7(tableName, TABLE_SCHEMA, null);
  if (table.Columns.Count !== 5) throw new Error('internal: table schema did not parse');
  const db = new Sym.DatabaseSymbol.$ctor1(DATABASE, [table], false);
  const cluster = new Sym.ClusterSymbol.$ctor1(CLUSTER, [db], false);
  return K.GlobalState.Default.WithCluster(cluster).WithDatabase(db);
}

function listToArray(list) {
  const out = [];
  if (!list) return out;
  for (let i = 0; i < list.Count; i++) out.push(list.getItem(i));
  return out;
}

function walk(node, visit) {
  if (!node) return;
  visit(node);
  if (node.IsToken) return;
  for (let i = 0; i < node.ChildCount; i++) walk(node.GetChild(i), visit);
}

function fromKusto(d, source) {
  return {
    severity: d.Severity,
    code: d.Code,
    message: d.Message,
    start: d.HasLocation ? d.Start : -1,
    length: d.HasLocation ? d.Length : 0,
    source,
  };
}

function own(code, message, start, length) {
  return { severity: 'Error', code, message, start, length, source: 'checker' };
}

// Analyze one text. `expect` is 'script-command' (paragraph of a setup script) or 'auto'.
function analyzeText(text, globals, expect) {
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diags = listToArray(code.GetDiagnostics()).map((d) => fromKusto(d, 'analysis'));
  const service = new K.Editor.KustoCodeService.ctor(code);
  for (const d of listToArray(service.GetAnalyzerDiagnostics(true))) diags.push(fromKusto(d, 'analyzer'));

  walk(code.Syntax, (n) => {
    if (n.Kind === SyntaxKind.UnknownCommand) {
      diags.push(own('KQLA001', 'Control command not recognized by Kusto.Language (parsed as UnknownCommand; no grammar matches it).', n.TextStart, n.Width));
    } else if (n.Kind === SyntaxKind.SkippedTokens && n.Width > 0) {
      diags.push(own('KQLA002', 'Tokens not covered by the command/query grammar (the parser skipped them without a diagnostic).', n.TextStart, n.Width));
    }
  });

  const root = code.Syntax;
  const statements = root && root.Statements ? root.Statements.Count : 0;
  if (expect === 'script-command' && code.Kind !== K.Editor.CodeKinds.Command) {
    diags.push(own('KQLA003', `Setup-script paragraph is not a control command (Kusto.Language kind: ${code.Kind}).`, 0, text.length));
  } else if (code.Kind === K.Editor.CodeKinds.Command) {
    if (statements !== 1) {
      diags.push(own('KQLA004', `Expected exactly one control command, found ${statements} (separate commands with a blank line in setup scripts).`, 0, text.length));
    }
  } else if (code.Kind === K.Editor.CodeKinds.Query) {
    if (statements === 0) diags.push(own('KQLA004', 'Empty query (no statements).', 0, 0));
  } else {
    diags.push(own('KQLA003', `Text is neither a query nor a control command (Kusto.Language kind: ${code.Kind}).`, 0, text.length));
  }
  diags.sort((a, b) => a.start - b.start);
  return { kind: code.Kind, diags };
}

// Split a setup script into command paragraphs: [{text, line (1-based)}].
function splitScript(text) {
  const lines = text.split(/\r?\n/);
  const paragraphs = [];
  let cur = null;
  lines.forEach((line, i) => {
    if (line.trim() === '') {
      cur = null;
      return;
    }
    if (!cur) {
      cur = { lines: [], line: i + 1 };
      paragraphs.push(cur);
    }
    cur.lines.push(line);
  });
  return paragraphs
    .filter((p) => p.lines.some((l) => !l.trim().startsWith('//')))
    .map((p) => ({ text: p.lines.join('\n'), line: p.line }));
}

function isScriptName(name) {
  return path.basename(String(name)).endsWith('setup.kql');
}

// Expand inputs into analysis units: {name, text, expect, line}.
function unitsFor(name, text, script) {
  if (!script) return [{ name, text, expect: 'auto', line: 1 }];
  const paras = splitScript(text);
  if (paras.length === 0) {
    return [{ name, text, expect: 'script-command', line: 1, emptyScript: true }];
  }
  return paras.map((p, i) => ({
    name: `${name}#${i + 1} (line ${p.line})`,
    text: p.text,
    expect: 'script-command',
    line: p.line,
  }));
}

function lineCol(text, offset) {
  let line = 0;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart, lineStart };
}

function formatDiag(d, text, baseLine, failing) {
  const label = failing ? d.severity.toLowerCase() : `note(${d.severity.toLowerCase()})`;
  const out = [];
  if (d.start < 0) {
    out.push(`  ${label} ${d.code} [${d.source}]: ${d.message}`);
    return out;
  }
  const lc = lineCol(text, d.start);
  out.push(`  ${label} ${d.code} [${d.source}] line ${baseLine + lc.line}, col ${lc.col + 1}: ${d.message}`);
  let lineEnd = text.indexOf('\n', lc.lineStart);
  if (lineEnd < 0) lineEnd = text.length;
  const srcLine = text.slice(lc.lineStart, lineEnd).replace(/\r$/, '');
  const width = Math.max(1, Math.min(d.length, srcLine.length - lc.col));
  out.push(`    | ${srcLine}`);
  out.push(`    | ${' '.repeat(lc.col)}${'^'.repeat(width)}`);
  return out;
}

// Returns {failed, lines}.
function checkUnit(unit, globals, strict) {
  let result;
  if (unit.emptyScript) {
    result = { diags: [own('KQLA004', 'Setup script contains no commands.', 0, 0)] };
  } else {
    result = analyzeText(unit.text, globals, unit.expect);
  }
  const isFailing = (d) => strict || FAILING_SEVERITIES.has(d.severity);
  const failed = result.diags.some(isFailing);
  const lines = [`${failed ? 'FAIL' : 'ok'} ${unit.name}`];
  for (const d of result.diags) lines.push(...formatDiag(d, unit.text, unit.line, isFailing(d)));
  return { failed, lines, diags: result.diags };
}

function parseArgs(argv) {
  const opts = { table: DEFAULT_TABLE, stdin: false, script: false, strict: false, selfTest: false, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--table') {
      const v = argv[++i];
      if (v === undefined || v === '') throw new UsageError('--table needs a non-empty NAME');
      opts.table = v;
    } else if (a.startsWith('--table=')) {
      opts.table = a.slice('--table='.length);
      if (opts.table === '') throw new UsageError('--table needs a non-empty NAME');
    } else if (a === '--stdin') opts.stdin = true;
    else if (a === '--script') opts.script = true;
    else if (a === '--strict') opts.strict = true;
    else if (a === '--self-test') opts.selfTest = true;
    else if (a === '-h' || a === '--help') opts.help = true;
    else if (a === '--') opts.files.push(...argv.slice(i + 1)), (i = argv.length);
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else opts.files.push(a);
  }
  if (opts.help) return opts;
  if (opts.selfTest) {
    if (argv.length !== 1) throw new UsageError('--self-test takes no other arguments');
  } else if (opts.stdin && opts.files.length > 0) {
    throw new UsageError('give either --stdin or FILE arguments, not both');
  } else if (!opts.stdin && opts.files.length === 0) {
    throw new UsageError('no input: give FILE arguments or --stdin');
  }
  return opts;
}

function readInputs(opts) {
  const inputs = [];
  if (opts.stdin) {
    let data;
    try {
      data = JSON.parse(fs.readFileSync(0, 'utf8'));
    } catch (e) {
      throw new UsageError(`stdin is not valid JSON: ${e.message}`);
    }
    if (!Array.isArray(data)) throw new UsageError('stdin must be a JSON array of {"name", "kql"} objects');
    data.forEach((item, i) => {
      if (!item || typeof item !== 'object' || typeof item.name !== 'string' || typeof item.kql !== 'string') {
        throw new UsageError(`stdin element ${i} must be an object with string "name" and "kql"`);
      }
      if (item.script !== undefined && typeof item.script !== 'boolean') {
        throw new UsageError(`stdin element ${i}: "script" must be a boolean`);
      }
      inputs.push({ name: item.name, text: item.kql, script: opts.script || item.script === true || isScriptName(item.name) });
    });
  } else {
    for (const f of opts.files) {
      let text;
      try {
        text = fs.readFileSync(f, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read ${f}: ${e.message}`);
      }
      inputs.push({ name: f, text, script: opts.script || isScriptName(f) });
    }
  }
  return inputs;
}

function run(opts, log = console.log) {
  const globals = makeGlobals(opts.table);
  let total = 0;
  let failures = 0;
  for (const input of readInputs(opts)) {
    for (const unit of unitsFor(input.name, input.text.replace(/^\uFEFF/, ''), input.script)) {
      const r = checkUnit(unit, globals, opts.strict);
      total++;
      if (r.failed) failures++;
      log(r.lines.join('\n'));
    }
  }
  log(`summary: ${total - failures} ok, ${failures} failed (table ${opts.table}, database ${DATABASE})`);
  return failures === 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// Self-test

const SAMPLE_QUERY = `GamePlay
| where EventTime >= datetime(2026-11-01T00:00:00.0000000Z) and EventTime < datetime(2026-12-01T00:00:00.0000000Z)
| where Win > 0 and Stake > 0
| where GameID in (1, 2, 3)
| extend Score = todouble(Win) / Stake
| summarize arg_min(EventTime, Win, Stake, GameID) by PlayerID, Score
| summarize arg_max(Score, EventTime, Win, Stake, GameID) by PlayerID
| sort by Score desc, EventTime asc, PlayerID asc
| take 100
| project PlayerID, Score, Win, Stake, GameID, EventTime`;

const SAMPLE_SETUP = `// leaderboard setup
.create-merge table GamePlay (PlayerID: int, GameID: int, Win: long, Stake: int, EventTime: datetime)

.create-or-alter table GamePlay ingestion json mapping "gameplay_json_mapping" '[{"column":"PlayerID","path":"$.playerId","datatype":"int"},{"column":"GameID","path":"$.gameId","datatype":"int"},{"column":"Win","path":"$.win","datatype":"long"},{"column":"Stake","path":"$.stake","datatype":"int"},{"column":"EventTime","path":"$.eventTime","datatype":"datetime"}]'

.alter table GamePlay policy streamingingestion enable
`;

// [name, text, script?, table?]; table defaults to GamePlay.
const SELF_TEST_GOOD = [
  ['sample-query', SAMPLE_QUERY],
  ['bracket-quoted-table', SAMPLE_QUERY.replace(/^GamePlay/, "['GamePlay']")],
  ['database-qualified-table', "database('leaderboard').GamePlay | take 1"],
  ['let-and-comments', '// top players\nlet k = 10;\nGamePlay\n| top k by Win desc'],
  ['sample-setup.kql', SAMPLE_SETUP, true],
  ['create-merge-command', '.create-merge table GamePlay (PlayerID: int, GameID: int, Win: long, Stake: int, EventTime: datetime)'],
  ['configured-table-query', 'LeaderboardEvents | where Win > 0 | take 5', false, 'LeaderboardEvents'],
  ['configured-table-setup.kql', '.alter table LeaderboardEvents policy streamingingestion enable', true, 'LeaderboardEvents'],
];

// [name, text, expected code, script?, table?]
const SELF_TEST_BAD = [
  ['unknown-column', 'GamePlay | where Nope > 1', 'KS142'],
  ['syntax-error', 'GamePlay | summarize max(Win/) by PlayerID', 'KS006'],
  ['unknown-table', 'NoSuchTable | take 1', 'KS204'],
  ['type-error', "GamePlay | where Win contains 'x'", 'KS106'],
  ['trailing-garbage-query', 'GamePlay | take 1 )', 'KS198'],
  ['empty-query', '// nothing here\n', 'KQLA004'],
  ['join-without-kind (analyzer warning)', 'GamePlay | join (GamePlay) on PlayerID', 'KS508'],
  ['misspelled-command', '.create tabel X (a:int)', 'KS005'],
  ['unknown-command', '.frobnicate table GamePlay', 'KQLA001'],
  ['bad-column-type', '.create-merge table GamePlay (PlayerID: intt)', 'KS005'],
  ['unknown-table-in-command', '.alter table Nope policy streamingingestion enable', 'KS204'],
  ['bad-mapping-kind', ".create-or-alter table GamePlay ingestion jsn mapping 'm' '[]'", 'KS005'],
  ['trailing-garbage-command', '.alter table GamePlay policy streamingingestion enable please', 'KQLA002'],
  ['two-commands-one-paragraph', '.create-merge table GamePlay (PlayerID: int)\n.alter table GamePlay policy streamingingestion enable', 'KQLA002', true],
  ['two-commands-semicolon', '.create-merge table GamePlay (PlayerID: int); .alter table GamePlay policy streamingingestion enable', 'KQLA002'],
  ['query-in-setup-script', 'GamePlay | take 1', 'KQLA003', true],
  ['empty-setup-script', '// only a comment\n', 'KQLA004', true],
  ['default-table-under-configured-name', 'GamePlay | take 1', 'KS204', false, 'LeaderboardEvents'],
];

function selfTest() {
  let problems = 0;
  const runCase = ([name, text, script, table]) => {
    const units = unitsFor(name, text, !!script || isScriptName(name));
    return units.map((u) => ({ unit: u, r: checkUnit(u, makeGlobals(table || DEFAULT_TABLE), false) }));
  };
  for (const c of SELF_TEST_GOOD) {
    for (const { unit, r } of runCase(c)) {
      if (r.failed || r.diags.length > 0) {
        problems++;
        console.log(`SELF-TEST PROBLEM: good sample was flagged: ${unit.name}`);
        console.log(r.lines.join('\n'));
      } else {
        console.log(`pass good ${unit.name} (clean)`);
      }
    }
  }
  for (const [name, text, expected, script, table] of SELF_TEST_BAD) {
    const results = runCase([name, text, script, table]);
    const flagged = results.filter(({ r }) => r.failed);
    const codes = [...new Set(flagged.flatMap(({ r }) => r.diags.map((d) => d.code)))];
    if (flagged.length === 0 || !codes.includes(expected)) {
      problems++;
      console.log(`SELF-TEST PROBLEM: bad sample was not flagged with ${expected}: ${name}`);
      for (const { r } of results) console.log(r.lines.join('\n'));
    } else {
      console.log(`pass bad  ${name} (flagged: ${codes.join(', ')})`);
    }
  }

  // The command-line path: argument parsing, file input, script detection, exit codes.
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'kql-analyzer-'));
  try {
    const write = (f, t) => (fs.writeFileSync(path.join(dir, f), t), path.join(dir, f));
    const good = write('top.kql', SAMPLE_QUERY);
    const setup = write('gameplay-setup.kql', SAMPLE_SETUP);
    const bad = write('bad.kql', 'GamePlay | where Nope > 1');
    const badSetup = write('broken-setup.kql', '.create-merge table GamePlay (PlayerID: int)\n\n.create tabel X (a:int)\n');
    const cli = (args) => {
      try {
        return run(parseArgs(args), () => {});
      } catch (e) {
        if (e instanceof UsageError) return 2;
        throw e;
      }
    };
    const cases = [
      [[good, setup], 0],
      [[good, bad], 1],
      [[badSetup], 1],
      [['--table', 'LeaderboardEvents', good], 1],
      [[], 2],
      [['--bogus', good], 2],
      [['--table'], 2],
      [[path.join(dir, 'missing.kql')], 2],
    ];
    for (const [args, want] of cases) {
      const got = cli(args);
      const shown = args.map((a) => (a.startsWith(dir) ? path.basename(a) : a)).join(' ');
      if (got !== want) {
        problems++;
        console.log(`SELF-TEST PROBLEM: cli [${shown}] exited ${got}, expected ${want}`);
      } else {
        console.log(`pass cli  [${shown}] -> exit ${got}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(problems === 0 ? 'self-test: OK' : `self-test: ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
    if (opts.help) {
      console.log(USAGE);
      return 0;
    }
    if (opts.selfTest) return selfTest();
    return run(opts);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`analyze.js: ${e.message}`);
      console.error(USAGE);
      return 2;
    }
    throw e;
  }
}

process.exitCode = main();
