// The standings page: the campaign list (GET /) and one campaign's live board (GET /board/{id}).
// Boards arrive through the API's event streams (EventSource), never by polling: the server
// sends the current answer first and a new one only when it changes.

const numbers = new Intl.NumberFormat();
const scoreWide = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const scoreSmall = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 2 });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** The spans offered when a campaign declares no `windows` of its own. */
const DEFAULT_SPANS = ["15m", "1h", "24h"];
/** Entries shown on each side of a found player. */
const AROUND = 5;
const MAX_PLAYER_ID = 2 ** 31 - 1;

const $ = (id) => document.getElementById(id);

/** A score for people: two decimals at most, but small ratios keep two significant digits. */
function formatScore(score) {
  return Math.abs(score) >= 1 ? scoreWide.format(score) : scoreSmall.format(score);
}

function formatTime(iso) {
  return dateTime.format(new Date(iso));
}

/** A duration in its two largest units, e.g. "2d 4h", "17m 5s". */
function formatDuration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts = [];
  let rest = seconds;
  for (const [name, size] of units) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0 || parts.length > 0) parts.push(`${count}${name}`);
    if (parts.length === 2) break;
  }
  return parts.length ? parts.join(" ").replace(/ 0[dhms]$/, "") : "0s";
}

/** "15m" reads "last 15 min"; spans in other spellings (ISO-8601, decimals) are shown as given. */
function spanLabel(span) {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(span);
  if (!match) return `last ${span}`;
  const [, count, unit] = match;
  const word = { ms: "ms", s: "s", m: "min", h: count === "1" ? "hour" : "h", d: count === "1" ? "day" : "days" }[unit];
  return count === "1" && (unit === "h" || unit === "d") ? `last ${word}` : `last ${count} ${word}`;
}

function gamesLabel(games) {
  return games && games.length ? `games ${games.map((g) => numbers.format(g)).join(", ")}` : "all games";
}

function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.hidden = !text;
}

/** The problem document of a failed answer, as a sentence. */
async function problemText(response) {
  try {
    const problem = await response.json();
    return [problem.title, problem.detail].filter(Boolean).join(": ") || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(await problemText(response));
  return response.json();
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// ---------------------------------------------------------------------------------------------
// The campaign list

/** When a campaign runs, relative to now, in words. */
function campaignWhen(campaign, now) {
  const start = Date.parse(campaign.start);
  const end = Date.parse(campaign.end);
  if (campaign.status === "live") return `${formatDuration(end - now)} left · ends ${formatTime(campaign.end)}`;
  if (campaign.status === "ended") return `ended ${formatTime(campaign.end)}`;
  return `starts ${formatTime(campaign.start)} · in ${formatDuration(start - now)}`;
}

async function campaignList() {
  let campaigns = [];
  const render = () => {
    const now = Date.now();
    const rows = campaigns.map((campaign) => {
      const tr = document.createElement("tr");
      tr.dataset.campaignId = campaign.id;
      const name = document.createElement("td");
      const link = document.createElement("a");
      link.href = `/board/${encodeURIComponent(campaign.id)}`;
      link.textContent = campaign.name || campaign.id;
      name.append(link);
      const status = cell("", "");
      const badge = document.createElement("span");
      badge.className = `badge ${campaign.status}`;
      badge.textContent = campaign.status;
      status.append(badge);
      tr.append(name, status, cell(campaignWhen(campaign, now), "when"), cell(gamesLabel(campaign.games)));
      return tr;
    });
    document.querySelector("#campaigns tbody").replaceChildren(...rows);
    $("empty").hidden = campaigns.length > 0;
  };
  const load = async () => {
    try {
      campaigns = (await getJson("/campaigns")).campaigns;
      showNotice("");
      render();
      reloadAtNextBoundary(campaigns, load);
    } catch (error) {
      showNotice(`The campaigns could not be loaded: ${error.message}`);
    }
  };
  await load();
  // Only the countdowns move between loads; they need the clock, not the server.
  setInterval(render, 1000);
}

/** Loads the list again once the next campaign starts or ends, when a status changes. */
function reloadAtNextBoundary(campaigns, load) {
  const now = Date.now();
  const next = Math.min(
    ...campaigns.flatMap((c) => [Date.parse(c.start), Date.parse(c.end)]).filter((t) => t > now),
  );
  if (Number.isFinite(next)) {
    // Timers hold at most 2^31-1 ms; a later boundary is rescheduled from there.
    clearTimeout(reloadAtNextBoundary.timer);
    reloadAtNextBoundary.timer = setTimeout(load, Math.min(next - now + 1000, 2 ** 31 - 1));
  }
}

// ---------------------------------------------------------------------------------------------
// A campaign's board

/**
 * Follows one event stream: `onAnswer` gets every answer of type `type`; a server's `error`
 * event (its problem document) shows a notice while the stream stays open; a stream the
 * browser gave up on (e.g. refused with a 4xx) is explained with its GET twin's problem.
 */
function follow(path, type, onAnswer, setConnection) {
  const source = new EventSource(path);
  source.addEventListener("open", () => setConnection("live"));
  source.addEventListener(type, (event) => {
    setConnection("live");
    showNotice("");
    onAnswer(JSON.parse(event.data));
  });
  source.addEventListener("error", async (event) => {
    if (typeof event.data === "string") {
      let problem = {};
      try {
        problem = JSON.parse(event.data);
      } catch {
        // A body that is not JSON still says something went wrong.
      }
      const text = [problem.title, problem.detail].filter(Boolean).join(": ") || "the backend failed";
      const at = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" }).format(new Date());
      showNotice(`Could not refresh the standings at ${at} (${text}); showing the last ones, still listening.`);
      return;
    }
    if (source.readyState === EventSource.CLOSED) {
      setConnection("stopped");
      const response = await fetch(path.replace("/stream", ""));
      showNotice(`The live stream stopped: ${response.ok ? "connection lost" : await problemText(response)}. Reload to try again.`);
    } else {
      setConnection("reconnecting");
    }
  });
  return source;
}

/** What the board shows, kept in the address so a view can be shared and reloaded. */
function readState(campaign) {
  const query = new URLSearchParams(location.search);
  const spans = campaign.windows && campaign.windows.length ? campaign.windows : DEFAULT_SPANS;
  const last = spans.includes(query.get("last")) ? query.get("last") : null;
  const limit = [10, 20, 50, 100].includes(Number(query.get("limit"))) ? Number(query.get("limit")) : 20;
  const offset = Math.max(0, Math.floor(Number(query.get("offset")) || 0));
  const player = parsePlayerId(query.get("player"));
  return { spans, last, limit, offset: offset - (offset % limit), player };
}

function writeState(state) {
  const query = new URLSearchParams();
  if (state.last) query.set("last", state.last);
  if (state.offset) query.set("offset", state.offset);
  if (state.limit !== 20) query.set("limit", state.limit);
  if (state.player !== null) query.set("player", state.player);
  const search = query.toString();
  history.replaceState(null, "", search ? `?${search}` : location.pathname);
}

function parsePlayerId(text) {
  if (text === null || !/^-?\d+$/.test(text.trim())) return null;
  const id = Number(text.trim());
  return id >= -MAX_PLAYER_ID - 1 && id <= MAX_PLAYER_ID ? id : null;
}

/** The last rank that wins a prize, or null without a prize table. */
let lastPrizeRank = null;

/** How each score format reads, and what its entries are made of (the columns after Score). */
const SCORES = {
  "best-multiplier": { label: "best single-spin multiplier (win ÷ stake)", columns: ["Win", "Stake", "Game", "Spins"] },
  "total-multiplier": { label: "total multiplier (sum of win ÷ stake over counted spins)", columns: ["Spins", "Wagered", "Won"] },
  "total-win": { label: "total won over counted spins", columns: ["Spins", "Wagered", "Won"] },
  "total-stake": { label: "turnover (total staked over counted spins)", columns: ["Spins", "Wagered", "Won"] },
  spins: { label: "number of counted spins", columns: ["Spins", "Wagered", "Won"] },
};

/** "1 spin", "2,345 spins". */
const spins = (n) => `${numbers.format(n)} spin${n === 1 ? "" : "s"}`;

/** The cells an entry is made of: its best spin and counted spins, or a total's spins and sums. */
function madeOf(entry) {
  return entry.wagered === undefined
    ? [numbers.format(entry.win), numbers.format(entry.stake), String(entry.gameId), numbers.format(entry.spins)]
    : [numbers.format(entry.spins), numbers.format(entry.wagered), numbers.format(entry.won)];
}

/** Table rows for entries; rows whose player or score differ from `before` (by rank) flash.
 * The prize column shows what each rank wins; the last prize rank's row marks the zone's edge. */
function renderEntries(tbody, entries, before, highlight) {
  tbody.closest("table").classList.toggle("no-prizes", lastPrizeRank === null);
  const rows = entries.map((entry) => {
    const tr = document.createElement("tr");
    tr.dataset.rank = entry.rank;
    tr.dataset.playerId = entry.playerId;
    tr.dataset.score = entry.score;
    const score = cell(formatScore(entry.score), "num score");
    score.title = String(entry.score);
    const achieved = cell(formatTime(entry.achievedAt), "time");
    achieved.title = entry.achievedAt;
    tr.append(
      cell(numbers.format(entry.rank), "num rank"),
      cell(String(entry.playerId), "player-id"),
      score,
      ...madeOf(entry).map((text) => cell(text, "num")),
      achieved,
      cell(entry.prize ?? "", "prize"),
    );
    if (entry.playerId === highlight) tr.classList.add("me");
    if (entry.rank === lastPrizeRank) tr.classList.add("prize-edge");
    const old = before && before.get(entry.rank);
    if (before && (!old || old.playerId !== entry.playerId || old.score !== entry.score)) {
      tr.classList.add("changed");
      tr.addEventListener("animationend", () => tr.classList.remove("changed"), { once: true });
    }
    return tr;
  });
  tbody.replaceChildren(...rows);
  return new Map(entries.map((e) => [e.rank, e]));
}

function setConnection(state) {
  const element = $("connection");
  if (element.dataset.state === "final" && state === "live") return;
  element.dataset.state = state;
  element.textContent = { live: "● live", reconnecting: "reconnecting…", stopped: "stopped", final: "no more changes" }[state];
}

function viewLabel(state) {
  return state.last ? spanLabel(state.last) : "whole campaign";
}

async function campaignBoard() {
  const id = decodeURIComponent(location.pathname.split("/").pop());
  let campaign;
  try {
    campaign = await getJson(`/campaigns/${encodeURIComponent(id)}`);
  } catch (error) {
    showNotice(`This campaign could not be loaded: ${error.message}`);
    return;
  }
  const base = `/campaigns/${encodeURIComponent(campaign.id)}`;
  const state = readState(campaign);
  const streams = { board: null, player: null };
  let shown = null; // rank -> entry of the page on screen, for the change highlight

  document.title = `${campaign.name || campaign.id} · standings`;
  $("name").textContent = campaign.name || campaign.id;
  $("campaign-span").textContent = `${formatTime(campaign.start)} – ${formatTime(campaign.end)}`;
  $("games").textContent = gamesLabel(campaign.games);
  const scoring = SCORES[campaign.score] ?? SCORES["best-multiplier"];
  $("scoring").textContent = scoring.label;
  for (const table of document.querySelectorAll("table.board")) {
    const shownNow = table.querySelectorAll("th.made-of");
    shownNow[0].before(
      ...scoring.columns.map((name) => {
        const th = document.createElement("th");
        th.className = "num made-of";
        th.textContent = name;
        return th;
      }),
    );
    shownNow.forEach((th) => th.remove());
  }
  const [minStake, maxStake, maxSpins] = [campaign["min-stake"], campaign["max-stake"], campaign["max-spins"]];
  $("stakes-fact").hidden = minStake === undefined && maxStake === undefined && maxSpins === undefined;
  const rules = [
    minStake !== undefined && maxStake !== undefined
      ? `counts spins of stake ${numbers.format(minStake)} to ${numbers.format(maxStake)}`
      : minStake !== undefined
        ? `counts spins of stake ≥ ${numbers.format(minStake)}`
        : maxStake !== undefined
          ? `counts spins of stake ≤ ${numbers.format(maxStake)}`
          : null,
    maxSpins !== undefined ? `each player's first ${numbers.format(maxSpins)} spins` : null,
  ];
  $("stakes").textContent = rules.filter(Boolean).join(" · ");
  const prizes = campaign.prizes ?? [];
  lastPrizeRank = prizes.length ? Math.max(...prizes.map((p) => Number(p.ranks.split("-").pop()))) : null;
  $("prizes-fact").hidden = prizes.length === 0;
  $("prizes").textContent = prizes.map((p) => `${p.ranks.replace("-", "–")}: ${p.prize}`).join(" · ");

  const viewButtons = [null, ...state.spans].map((span) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.view = span ?? "";
    button.textContent = span ? spanLabel(span) : "Whole campaign";
    button.addEventListener("click", () => {
      state.last = span;
      state.offset = 0;
      openBoard();
      openPlayer();
    });
    return button;
  });
  $("views").replaceChildren(...viewButtons);
  $("limit").value = String(state.limit);

  const query = (extra) => {
    const params = new URLSearchParams(extra);
    if (state.last) params.set("last", state.last);
    return params.toString();
  };

  const onBoard = (board) => {
    $("status").textContent = board.campaign.status;
    $("status").className = `badge ${board.campaign.status}`;
    $("final").hidden = !board.final;
    // A final board never changes again: nothing is "live" about it.
    if (board.final) setConnection("final");
    $("window").textContent = `${viewLabel(state)}: ${formatTime(board.window.from)} – ${formatTime(board.window.to)}`;
    const count = board.entries.length;
    const first = board.offset + 1;
    const cutoff =
      board.prizeCutoff === undefined
        ? ""
        : board.prizeCutoff === null
          ? " · prize zone not filled yet"
          : ` · prize zone from score ${formatScore(board.prizeCutoff)}`;
    $("range").textContent =
      (count
        ? `ranks ${numbers.format(first)}–${numbers.format(board.offset + count)} of ${numbers.format(board.total)}`
        : `${numbers.format(board.total)} ranked`) + cutoff;
    $("prev").disabled = board.offset === 0;
    $("next").disabled = board.offset + count >= board.total;
    shown = renderEntries(document.querySelector("#board tbody"), board.entries, shown, state.player);
    $("board").hidden = count === 0;
    const empty = $("board-empty");
    empty.hidden = count > 0;
    empty.textContent =
      board.campaign.status === "upcoming"
        ? `The campaign starts ${formatTime(board.campaign.start)}.`
        : board.offset > 0 && board.total > 0
          ? "No ranks this far down."
          : board.final
            ? "No spin counted in this campaign."
            : "No ranked players yet.";
  };

  function openBoard() {
    streams.board?.close();
    shown = null;
    writeState(state);
    for (const button of viewButtons) button.setAttribute("aria-pressed", String((button.dataset.view || null) === state.last));
    $("csv").href = `${base}/standings.csv${state.last ? `?last=${encodeURIComponent(state.last)}` : ""}`;
    const page = query({ limit: state.limit, offset: state.offset });
    const path = state.last ? `${base}/window/stream?${page}` : `${base}/top/stream?${page}`;
    streams.board = follow(path, "board", onBoard, setConnection);
  }

  const onPlayer = (answer) => {
    const id = state.player;
    $("player-title").textContent = `Player ${id}`;
    const entry = answer.player;
    $("player-summary").textContent = entry
      ? `Rank ${numbers.format(entry.rank)} of ${numbers.format(answer.total)} over the ${viewLabel(state)} · score ${formatScore(entry.score)} (${
          entry.wagered === undefined
            ? `won ${numbers.format(entry.win)} on a stake of ${numbers.format(entry.stake)}, ${spins(entry.spins)}`
            : `${spins(entry.spins)}, wagered ${numbers.format(entry.wagered)}, won ${numbers.format(entry.won)}`
        }, ${formatTime(entry.achievedAt)})`
      : `Player ${id} has no ranked spin over the ${viewLabel(state)}.`;
    if (answer.toPrize === 0) $("player-summary").textContent += ` · in the prize zone${entry?.prize ? ` (${entry.prize})` : ""}`;
    else if (typeof answer.toPrize === "number") $("player-summary").textContent += ` · ${formatScore(answer.toPrize)} short of the prize zone`;
    renderEntries(document.querySelector("#player-board tbody"), answer.around, null, id);
    $("player-board").hidden = answer.around.length === 0;
    $("player").hidden = false;
  };

  function openPlayer() {
    streams.player?.close();
    streams.player = null;
    writeState(state);
    for (const tr of document.querySelectorAll("#board tbody tr")) {
      tr.classList.toggle("me", Number(tr.dataset.playerId) === state.player);
    }
    if (state.player === null) {
      $("player").hidden = true;
      return;
    }
    const path = `${base}/players/${state.player}/stream?${query({ around: AROUND })}`;
    streams.player = follow(path, "player", onPlayer, setConnection);
  }

  $("find").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = parsePlayerId($("player-id").value);
    if (id === null) {
      showNotice("A player id is a whole number (a 32-bit integer).");
      return;
    }
    showNotice("");
    state.player = id;
    openPlayer();
  });
  $("player-close").addEventListener("click", () => {
    state.player = null;
    openPlayer();
  });
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit);
    openBoard();
  });
  $("next").addEventListener("click", () => {
    state.offset += state.limit;
    openBoard();
  });
  $("limit").addEventListener("change", () => {
    state.limit = Number($("limit").value);
    state.offset = 0;
    openBoard();
  });

  if (state.player !== null) $("player-id").value = String(state.player);
  openBoard();
  openPlayer();
}

if (document.body.dataset.page === "index") campaignList();
if (document.body.dataset.page === "board") campaignBoard();
