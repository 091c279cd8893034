// Drives Debian's chromium (headless, through the DevTools protocol) over the standings page
// of a running service, as a person would: the campaign list, a campaign's board, a new spin
// that takes first place arriving without a reload, finding a player, switching to a window.
// Every expectation is the JSON API's answer, fetched from here.
//
//   node tests/browser/standings.mjs BASE_URL CAMPAIGN_ID SCREENSHOT_DIR [tour|failure]
//
// `tour` (the default) is all of the above over an embedded store; `failure` expects a server
// whose backend answers the board's first query and fails the refreshes after it: the page must
// show a notice and keep its stream open, so that once the caller (who reads "ok:" lines) lets
// the backend recover and fail again, a second failure's notice arrives on the same stream.
//
// Exits 0 when every check passed; otherwise prints `FAIL: reason` and exits 1.

import { mkdirSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** A generous bound for a loaded 2-core machine: a deadline for conditions, not a latency claim. */
const DEADLINE_MS = 30_000;
/** The spin the script adds: far above every other score, stamped now so every view ranks it. */
const LEADER = { playerId: 777_777, gameId: 2, win: 5_000_000, stake: 3 };
const PAGE_SIZE = 20;

const [base, campaignId, shots, scenario = "tour"] = process.argv.slice(2);
/** What went wrong inside the page (script errors, requests off the machine), checked while waiting. */
const problems = [];

class Failure extends Error {}

function fail(reason) {
  throw new Failure(reason);
}

function checkPage() {
  if (problems.length) fail(problems.join("; "));
}

function step(text) {
  console.log(`ok: ${text}`);
}

async function api(path) {
  const response = await fetch(`${base}${path}`);
  if (!response.ok) fail(`GET ${path} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check()` returns true; `describe()` says what was seen when it never does. */
async function until(what, check, describe) {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    checkPage();
    if (Date.now() > deadline) fail(`timed out waiting until ${what}; saw ${await describe()}`);
    await sleep(100);
  }
  checkPage();
  step(what);
}

/** The rows a board table shows: rank and player from the row, and the rank as displayed. */
function shownRows(page, table) {
  return page.$$eval(`${table} tbody tr`, (rows) =>
    rows.map((tr) => ({
      rank: Number(tr.dataset.rank),
      playerId: Number(tr.dataset.playerId),
      rankText: tr.querySelector(".rank").textContent,
    })),
  );
}

/** Waits until `table` shows exactly the API's entries at `path`, in order. */
async function rowsMatch(page, table, path, what) {
  let seen = [];
  let expected = [];
  await until(
    what,
    async () => {
      expected = (await api(path)).entries.map((e) => ({ rank: e.rank, playerId: e.playerId }));
      seen = await shownRows(page, table);
      return (
        expected.length > 0 &&
        JSON.stringify(seen.map(({ rank, playerId }) => ({ rank, playerId }))) === JSON.stringify(expected)
      );
    },
    () => `${JSON.stringify(seen.slice(0, 5))}… (${seen.length} rows) instead of ${JSON.stringify(expected.slice(0, 5))}… (${expected.length})`,
  );
  const english = new Intl.NumberFormat("en-US");
  const badRank = seen.find((r) => r.rankText !== english.format(r.rank));
  if (badRank) fail(`rank ${badRank.rank} is shown as ${JSON.stringify(badRank.rankText)}`);
}

const text = (page, selector) => page.$eval(selector, (e) => e.textContent.trim());

async function launch() {
  if (!existsSync(CHROMIUM)) {
    fail(`no chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium, as tests/run.sh does) or set CHROMIUM`);
  }
  let puppeteer;
  try {
    puppeteer = (await import("puppeteer-core")).default;
  } catch (error) {
    fail(`puppeteer-core is not installed (run npm ci in tests/browser, as tests/run.sh does): ${error.message}`);
  }
  const profile = mkdtempSync(join(tmpdir(), "leaderboard-chromium-"));
  let browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: false, // --headless is among the flags below, exactly as given
      userDataDir: profile,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        "--lang=en-US",
        `--user-data-dir=${profile}`,
      ],
      env: { ...process.env, LANG: "en_US.UTF-8", TZ: process.env.TZ ?? "UTC" },
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    fail(`chromium did not start: ${error.message}`);
  }
  return { browser, cleanup: () => rmSync(profile, { recursive: true, force: true }) };
}

/** Fails the run on any script error in the page or any request that leaves the machine. */
function watch(page, origin) {
  page.on("pageerror", (error) => problems.push(`script error in the page: ${error.message}`));
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.protocol !== "data:" && url.origin !== origin) problems.push(`the page requested ${request.url()}`);
  });
}

async function campaignList(page) {
  await page.goto(`${base}/`, { waitUntil: "domcontentloaded" });
  const { campaigns } = await api("/campaigns");
  await until(
    "the campaign list shows every campaign with its status",
    async () => {
      const shown = await page.$$eval("#campaigns tbody tr", (rows) =>
        rows.map((tr) => ({ id: tr.dataset.campaignId, status: tr.querySelector(".badge").textContent })),
      );
      return JSON.stringify(shown) === JSON.stringify(campaigns.map((c) => ({ id: c.id, status: c.status })));
    },
    () => page.$eval("#campaigns tbody", (e) => e.innerText),
  );
  const when = await page.$$eval("#campaigns tbody tr .when", (cells) => cells.map((c) => c.textContent));
  campaigns.forEach((c, i) => {
    const expected = { live: /left/, ended: /^ended /, upcoming: /^starts .* in / }[c.status];
    if (!expected.test(when[i])) fail(`campaign ${c.id} (${c.status}) says ${JSON.stringify(when[i])}`);
  });
  await page.screenshot({ path: join(shots, "index.png"), fullPage: true });
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.click(`#campaigns tr[data-campaign-id="${campaignId}"] a`),
  ]);
  if (new URL(page.url()).pathname !== `/board/${campaignId}`) fail(`the link led to ${page.url()}`);
  step("the campaign's link opens its board");
}

async function board(page) {
  await rowsMatch(page, "#board", `/campaigns/${campaignId}/top?limit=${PAGE_SIZE}`, "the board shows the API's top entries");
  const first = await api(`/campaigns/${campaignId}/top?limit=${PAGE_SIZE}`);
  const range = await text(page, "#range");
  const expected = `ranks 1–${Math.min(PAGE_SIZE, first.total)} of ${first.total.toLocaleString("en-US")}`;
  if (!(range === expected || (first.prizeCutoff !== undefined && range.startsWith(`${expected} · prize zone`))))
    fail(`the range says ${JSON.stringify(range)}, not ${JSON.stringify(expected)}`);
  if (first.prizeCutoff !== undefined) await prizes(page, first);
  const csv = await page.$eval("#csv", (a) => a.getAttribute("href"));
  if (csv !== `/campaigns/${campaignId}/standings.csv`) fail(`the CSV link is ${csv}`);
  const games = await text(page, "#games");
  if (!games) fail("the game filter is not shown");
  const finalShown = await page.$eval("#final", (e) => getComputedStyle(e).display !== "none");
  if (finalShown !== first.final) fail(`the board ${finalShown ? "says" : "does not say"} final while the API's final is ${first.final}`);
  step(`the board says "${range}" and links the CSV export`);
  await scoreShown(page, first.campaign, first.entries);

  if (first.total > PAGE_SIZE) {
    await page.click("#next");
    await rowsMatch(page, "#board", `/campaigns/${campaignId}/top?limit=${PAGE_SIZE}&offset=${PAGE_SIZE}`, "the next page shows the next ranks");
    await page.click("#prev");
    await rowsMatch(page, "#board", `/campaigns/${campaignId}/top?limit=${PAGE_SIZE}`, "the previous page shows the first ranks again");
  }
  await page.screenshot({ path: join(shots, "board.png"), fullPage: true });
}

/** A campaign with a prize table: each row's prize as the API says, the last prize rank's row
 * marks the zone's edge, the table and the qualifying stakes are listed. */
async function prizes(page, first) {
  const shown = await page.$$eval("#board tbody tr", (rows) =>
    rows.map((r) => ({ prize: r.querySelector(".prize").textContent, edge: r.classList.contains("prize-edge") })),
  );
  const wanted = first.entries.map((e) => e.prize ?? "");
  if (JSON.stringify(shown.map((r) => r.prize)) !== JSON.stringify(wanted))
    fail(`the prize column shows ${JSON.stringify(shown.map((r) => r.prize))}, not ${JSON.stringify(wanted)}`);
  const last = Math.max(...first.campaign.prizes.map((p) => Number(p.ranks.split("-").pop())));
  const edges = shown.flatMap((r, i) => (r.edge ? [first.entries[i].rank] : []));
  if (JSON.stringify(edges) !== JSON.stringify([last])) fail(`the prize zone's edge is marked on ranks ${edges}`);
  const table = await text(page, "#prizes");
  const stakes = await text(page, "#stakes");
  if (!table.includes("Gold") || !stakes.includes("3 to 50") || !stakes.includes("first 5,000 spins")) fail(`the facts say ${table} and ${stakes}`);
  step(`the prize column, the zone's edge at rank ${last}, "${table}" and "${stakes}"`);
}

/** A spin that takes first place reaches the open page through its stream, without a reload. */
async function liveUpdate(page) {
  await page.evaluate(() => {
    window.sameDocument = true;
    window.flashed = [];
    new MutationObserver(() => {
      for (const tr of document.querySelectorAll("#board tbody tr.changed")) window.flashed.push(Number(tr.dataset.playerId));
    }).observe(document.querySelector("#board tbody"), { childList: true });
  });
  const spin = { ...LEADER, eventTime: new Date().toISOString() };
  const response = await fetch(`${base}/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([spin]),
  });
  if (!response.ok) fail(`POST /events answered ${response.status}: ${await response.text()}`);
  await until(
    "the new leader appears on the open page",
    async () => (await shownRows(page, "#board"))[0]?.playerId === LEADER.playerId,
    async () => JSON.stringify((await shownRows(page, "#board")).slice(0, 3)),
  );
  if (!(await page.evaluate(() => window.sameDocument === true))) fail("the page was reloaded");
  if (!(await page.evaluate((id) => window.flashed.includes(id), LEADER.playerId))) fail("the new leader's row was not marked as changed");
  await rowsMatch(page, "#board", `/campaigns/${campaignId}/top?limit=${PAGE_SIZE}`, "the updated board equals the API's, without a reload");
  const score = await page.$eval(`#board tr[data-player-id="${LEADER.playerId}"] .score`, (e) => e.textContent);
  if (score !== "1,666,666.67") fail(`a score of 5,000,000/3 is shown as ${JSON.stringify(score)}`);
  await page.screenshot({ path: join(shots, "board-updated.png"), fullPage: true });
}

async function findPlayer(page) {
  const { entries } = await api(`/campaigns/${campaignId}/top?limit=${PAGE_SIZE}`);
  const target = entries[Math.min(12, entries.length - 1)];
  await page.type("#player-id", String(target.playerId));
  await page.click("#find button");
  const expected = await api(`/campaigns/${campaignId}/players/${target.playerId}?around=5`);
  await until(
    `finding player ${target.playerId} shows their rank and neighbours`,
    async () => {
      const summary = await text(page, "#player-summary").catch(() => "");
      const rows = await shownRows(page, "#player-board");
      return (
        summary.startsWith(`Rank ${expected.player.rank.toLocaleString("en-US")} of ${expected.total.toLocaleString("en-US")}`) &&
        JSON.stringify(rows.map((r) => r.playerId)) === JSON.stringify(expected.around.map((e) => e.playerId))
      );
    },
    () => text(page, "#player").catch(() => "no player panel"),
  );
  const { player } = expected;
  const spins = `${player.spins.toLocaleString("en-US")} spin${player.spins === 1 ? "" : "s"}`;
  const spin = player.wagered === undefined
    ? `won ${player.win.toLocaleString("en-US")} on a stake of ${player.stake.toLocaleString("en-US")}, ${spins}`
    : `${spins}, wagered ${player.wagered.toLocaleString("en-US")}, won ${player.won.toLocaleString("en-US")}`;
  const summary = await text(page, "#player-summary");
  if (!summary.includes(`(${spin}, `)) fail(`the player's summary ${JSON.stringify(summary)} does not say ${JSON.stringify(spin)}`);
  await page.screenshot({ path: join(shots, "player.png"), fullPage: true });
}

async function switchWindow(page) {
  const campaign = await api(`/campaigns/${campaignId}`);
  const span = campaign.windows?.[0] ?? "1h";
  const before = JSON.stringify(await shownRows(page, "#board"));
  await page.click(`#views button[data-view="${span}"]`);
  await rowsMatch(page, "#board", `/campaigns/${campaignId}/window?last=${span}&limit=${PAGE_SIZE}`, `switching to the last ${span} shows the window's entries`);
  if (JSON.stringify(await shownRows(page, "#board")) === before) fail("the window shows the same rows as the whole campaign");
  const csv = await page.$eval("#csv", (a) => a.getAttribute("href"));
  if (csv !== `/campaigns/${campaignId}/standings.csv?last=${span}`) fail(`the window's CSV link is ${csv}`);
  if (!new URL(page.url()).search.includes(`last=${span}`)) fail(`the address does not keep the view: ${page.url()}`);
  await page.screenshot({ path: join(shots, "window.png"), fullPage: true });
}

/** The board says how its campaign scores, its columns name what entries are made of (a best
 * spin's win, stake and game and the player's spins, or a total's spins, wagered and won), and
 * its first row shows them. */
async function scoreShown(page, campaign, entries) {
  const total = campaign.score !== "best-multiplier";
  const wanted = total ? ["Spins", "Wagered", "Won"] : ["Win", "Stake", "Game", "Spins"];
  const headers = () => page.$$eval("#board th.made-of", (ths) => ths.map((th) => th.textContent));
  await until(`the columns of ${campaign.id} (${campaign.score}) are ${wanted}`, async () => JSON.stringify(await headers()) === JSON.stringify(wanted), async () => JSON.stringify(await headers()));
  const scoring = await text(page, "#scoring");
  if (!scoring.includes(total ? "counted spins" : "best single-spin")) fail(`${campaign.score} is described as ${JSON.stringify(scoring)}`);
  if (entries.length > 0) {
    const english = new Intl.NumberFormat("en-US");
    const e = entries[0];
    const want = total ? [e.spins, e.wagered, e.won].map((n) => english.format(n)) : [english.format(e.win), english.format(e.stake), String(e.gameId), english.format(e.spins)];
    const first = () => page.$$eval("#board tbody tr:first-child td.num:not(.rank):not(.score)", (tds) => tds.map((td) => td.textContent));
    await until(`the first row of ${campaign.id} shows ${want}`, async () => JSON.stringify(await first()) === JSON.stringify(want), async () => JSON.stringify(await first()));
  }
  step(`the ${campaign.score} board says "${scoring}" and shows ${wanted.join(", ")}`);
}

/** An ended campaign's board, if there is one, says "final". */
async function endedBoard(page) {
  const ended = (await api("/campaigns")).campaigns.find((c) => c.status === "ended");
  if (!ended) return;
  const answer = await api(`/campaigns/${ended.id}/top`);
  await page.goto(`${base}/board/${ended.id}`, { waitUntil: "domcontentloaded" });
  await until(
    `the ended campaign ${ended.id} shows ${answer.final ? "a final" : "its"} board`,
    () => page.$eval("#final", (e, final) => (getComputedStyle(e).display !== "none") === final && document.querySelector("#range").textContent !== "", answer.final),
    () => text(page, ".masthead"),
  );
  const views = await page.$$eval("#views button", (buttons) => buttons.map((b) => b.dataset.view));
  const offered = ["", ...(ended.windows ?? ["15m", "1h", "24h"])];
  if (JSON.stringify(views) !== JSON.stringify(offered)) fail(`${ended.id} offers the views ${JSON.stringify(views)}, not ${JSON.stringify(offered)}`);
  step(`the ended campaign offers its own windows ${JSON.stringify(offered.slice(1))}`);
  await scoreShown(page, ended, answer.entries);
  await page.screenshot({ path: join(shots, "ended.png"), fullPage: true });
}

/** A failing refresh shows a notice over the last standings, and the stream stays open. */
async function failure(page) {
  await page.goto(`${base}/board/${campaignId}`, { waitUntil: "domcontentloaded" });
  await page.evaluate(() => {
    window.connectionStates = [];
    const connection = document.querySelector("#connection");
    new MutationObserver(() => window.connectionStates.push(connection.dataset.state)).observe(connection, { attributes: true });
  });
  await until(
    "the board shows the first answer",
    async () => (await shownRows(page, "#board")).length > 0,
    () => text(page, "main"),
  );
  await until(
    "a failing refresh shows a notice",
    () => page.$eval("#notice", (e) => !e.hidden && e.textContent.includes("Could not refresh")),
    () => text(page, "main"),
  );
  const rows = await shownRows(page, "#board");
  if (rows.length === 0) fail("the last standings were taken off the page");
  const states = await page.evaluate(() => window.connectionStates);
  if (states.some((state) => state !== "live")) fail(`the stream did not stay open: ${JSON.stringify(states)}`);
  if ((await page.$eval("#connection", (e) => e.dataset.state)) !== "live") fail("the stream is not open");
  step(`the notice says "${await text(page, "#notice")}" and the stream stays open`);
  await page.screenshot({ path: join(shots, "failure.png"), fullPage: true });
  await page.evaluate(() => (window.firstNotice = document.querySelector("#notice").firstChild));
  await until(
    "the next failure's notice arrives on the same stream",
    () => page.$eval("#notice", (e) => e.firstChild !== window.firstNotice && e.textContent.includes("Could not refresh")),
    () => text(page, "main"),
  );
}

async function main() {
  if (!base || !campaignId || !shots || !["tour", "failure"].includes(scenario)) {
    fail("usage: standings.mjs BASE_URL CAMPAIGN_ID SCREENSHOT_DIR [tour|failure]");
  }
  if (new URL(base).hostname !== "127.0.0.1") fail(`only servers on 127.0.0.1 are driven, not ${base}`);
  mkdirSync(shots, { recursive: true });
  const { browser, cleanup } = await launch();
  // The caller gave up (its test failed elsewhere): close the browser before going.
  process.once("SIGTERM", () => browser.close().finally(() => {
    cleanup();
    process.exit(143);
  }));
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    watch(page, new URL(base).origin);
    if (scenario === "failure") {
      await failure(page);
    } else {
      await campaignList(page);
      await board(page);
      await liveUpdate(page);
      await findPlayer(page);
      await switchWindow(page);
      await endedBoard(page);
    }
    checkPage();
    console.log(`passed; screenshots in ${shots}`);
  } finally {
    await browser.close();
    cleanup();
  }
}

try {
  await main();
} catch (error) {
  console.error(`FAIL: ${error instanceof Failure ? error.message : (error.stack ?? error)}`);
  process.exitCode = 1;
}
