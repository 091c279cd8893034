// A small client of the leaderboard API, as a game front end would write it, against nothing
// but the types openapi-typescript generates from the served document (the module
// `leaderboard-api`, mapped by the tsconfig.json that clients.mjs writes next to them). It must
// pass `tsc --noEmit`: if the document stops describing what a front end reads (a board's
// ranked entries, a player's standing and neighbours, a friends' board and its unranked ids),
// this file stops compiling.

import type { components, operations } from "leaderboard-api";

type Schemas = components["schemas"];
type Json<Op extends keyof operations> = operations[Op] extends {
  responses: { 200: { content: { "application/json": infer Body } } };
} ? Body
  : never;
type Query<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;
type Path<Op extends keyof operations> = operations[Op]["parameters"]["path"];

export type Board = Json<"top">;
export type Standing = Json<"player">;
export type FriendsBoard = Json<"friends">;

/** GETs `path` with `query` from the server at `base`; a problem document becomes an Error. */
async function get<T>(base: string, path: string, query: Record<string, string | number | number[] | undefined>) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  const response = await fetch(`${base}${path}?${params}`, { headers: { accept: "application/json" } });
  if (!response.ok) {
    const problem = (await response.json()) as Schemas["Problem"];
    throw new Error(`${problem.status} ${problem.title}: ${problem.detail}`);
  }
  return (await response.json()) as T;
}

const campaign = (id: string) => `/campaigns/${encodeURIComponent(id)}`;

export function top(base: string, { id }: Path<"top">, query: Query<"top"> = {}): Promise<Board> {
  return get(base, `${campaign(id)}/top`, query);
}

export function player(
  base: string,
  { id, playerId }: Path<"player">,
  query: Query<"player"> = {},
): Promise<Standing> {
  return get(base, `${campaign(id)}/players/${playerId}`, query);
}

export function friends(base: string, { id }: Path<"friends">, query: Query<"friends">): Promise<FriendsBoard> {
  return get(base, `${campaign(id)}/players`, query);
}

/** One line per entry, as a board widget shows it. */
export function rows(entries: Schemas["Entry"][]): string[] {
  return entries.map((e) => `#${e.rank} player ${e.playerId}: ${e.score.toFixed(2)} (${e.win}/${e.stake}, game ${e.gameId}, ${new Date(e.achievedAt).toISOString()})`);
}

/** What a player's own widget shows. */
export function summary(standing: Standing): string {
  const me = standing.player;
  if (me == null) return `not ranked yet among ${standing.total}`;
  const next = standing.around.find((e) => e.rank === me.rank - 1);
  const gap = next === undefined ? "" : `, ${(next.score - me.score).toFixed(2)} behind #${next.rank}`;
  return `#${me.rank} of ${standing.total}${gap}`;
}

/** A friends' board, as the game lists it: the ranked ones, then the ones with no score. */
export function friendsList(board: FriendsBoard): string[] {
  return [...rows(board.entries), ...board.unranked.map((id: number) => `player ${id}: no score yet`)];
}

/** The three calls with the document's own examples, against the demo. */
export async function demo(base = "http://127.0.0.1:8080"): Promise<string[]> {
  const id = "demo-live";
  const board = await top(base, { id }, { limit: 10, offset: 0 });
  const standing = await player(base, { id, playerId: 42 }, { last: "15m", around: 5 });
  const mine = await friends(base, { id }, { ids: [7, 42, 1001], last: "15m" });
  const status: "upcoming" | "live" | "ended" = board.campaign.status;
  const window: string = `${board.window.from} to ${board.window.to}`;
  return [`${status} ${window}, ${board.final ? "final" : "moving"}`, ...rows(board.entries), summary(standing), ...friendsList(mine)];
}
