import { lstat, readdir, readFile, readlink, rm, stat } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../errors.js";
import { runningServer } from "./embedded.js";
import { CLUSTERS_ROOT, isSetAside } from "./embedded-host.js";

/**
 * The clusters kept in CLUSTERS_ROOT: as root, the embedded PostgreSQL's cluster of a data
 * directory the postgres user cannot reach lives there, with a symlink from `<dataDir>/postgres`
 * and an `origin` file naming the data directory. Deleting the data directory by hand leaves its
 * cluster behind, and a data directory made again at the same path sets the old one aside
 * (`<name>.replaced-<time>`): neither belongs to anything any more, and `prune` removes them.
 */
export interface KeptCluster {
  /** The kept directory (holding `postgres/` and `origin`). */
  dir: string;
  /** The data directory it was made for, from its `origin` file. */
  origin?: string;
  /**
   * in-use: its data directory's link points at it. running: a server runs on it (never pruned).
   * recent: changed in the last GRACE_MS, perhaps being made now (never pruned). orphaned: neither.
   */
  state: "in-use" | "running" | "recent" | "orphaned";
  /** Why it is orphaned. */
  reason?: string;
  bytes: number;
}

/** A cluster is being made between its directory and its data directory's link: give it time. */
export const GRACE_MS = 10 * 60_000;

export async function keptClusters(root = CLUSTERS_ROOT, now = Date.now()): Promise<KeptCluster[]> {
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return [];
    throw new UserError(`cannot read ${root} (${code}): the clusters kept there are root's; run it as root`);
  }
  // Their insides belong to the postgres user (0700): anyone else would take a running one for orphaned.
  if (names.length > 0 && process.getuid?.() !== 0)
    throw new UserError(`the clusters kept in ${root} are root's (and postgres'): run it as root`);
  const clusters: KeptCluster[] = [];
  for (const name of names.sort()) clusters.push(await judge(path.join(root, name), now));
  return clusters;
}

async function judge(dir: string, now: number): Promise<KeptCluster> {
  const cluster = path.join(dir, "postgres");
  const origin = (await readFile(path.join(dir, "origin"), "utf8").catch(() => "")).trim() || undefined;
  const bytes = await treeBytes(dir);
  const base = { dir, ...(origin ? { origin } : {}), bytes };
  if (await runningServer(cluster)) return { ...base, state: "running" };
  const orphaned = await whyOrphaned(dir, cluster, origin);
  if (!orphaned) return { ...base, state: "in-use" };
  const changed = await stat(dir).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  if (now - changed < GRACE_MS) return { ...base, state: "recent" };
  return { ...base, state: "orphaned", reason: orphaned };
}

async function whyOrphaned(
  dir: string,
  cluster: string,
  origin: string | undefined,
): Promise<string | undefined> {
  if (isSetAside(dir)) return "set aside when its data directory was made again";
  if (!origin) return "it names no data directory";
  const link = path.join(origin, "postgres");
  const target = await lstat(link).then(
    async (s) => (s.isSymbolicLink() ? path.resolve(origin, await readlink(link)) : undefined),
    () => null,
  );
  if (target === null) return `its data directory ${origin} is gone`;
  return target === cluster ? undefined : `its data directory ${origin} uses another cluster`;
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(file);
    else
      total += await lstat(file).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

/**
 * Removes the orphaned clusters (`only` narrows which are considered), judging each again just
 * before: a server started on one since the listing keeps it. Returns those removed.
 */
export async function pruneKeptClusters(
  root = CLUSTERS_ROOT,
  only: (cluster: KeptCluster) => boolean = () => true,
): Promise<KeptCluster[]> {
  const removed: KeptCluster[] = [];
  for (const listed of await keptClusters(root)) {
    if (listed.state !== "orphaned" || !only(listed)) continue;
    const now = await judge(listed.dir, Date.now());
    if (now.state !== "orphaned") continue;
    await rm(now.dir, { recursive: true, force: true });
    removed.push(now);
  }
  return removed;
}
