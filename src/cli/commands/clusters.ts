import { CLUSTERS_ROOT } from "../../db/embedded-host.js";
import { type KeptCluster, keptClusters, pruneKeptClusters } from "../../db/kept-clusters.js";
import { type Command, print } from "../command.js";

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

function describe(c: KeptCluster): string {
  const what = c.state === "orphaned" ? `orphaned: ${c.reason}` : c.state;
  return `  ${c.dir}  ${mb(c.bytes)}  ${what}${c.origin && c.state !== "orphaned" ? ` (${c.origin})` : ""}`;
}

const asJson = (c: KeptCluster) => ({
  dir: c.dir,
  origin: c.origin ?? null,
  state: c.state,
  reason: c.reason ?? null,
  bytes: c.bytes,
});

/**
 * The embedded PostgreSQL clusters kept in CLUSTERS_ROOT (as root, for data directories the
 * postgres user cannot reach), and whether each still belongs to its data directory.
 */
export const clustersList: Command = {
  path: ["clusters", "list"],
  usage: "keyops clusters list [--json]",
  summary: `embedded PostgreSQL clusters kept in ${CLUSTERS_ROOT} (as root), and which are orphaned`,
  async run(context) {
    const clusters = await keptClusters();
    const orphaned = clusters.filter((c) => c.state === "orphaned");
    const head =
      clusters.length === 0
        ? `no embedded PostgreSQL clusters are kept in ${CLUSTERS_ROOT}`
        : `${clusters.length} kept in ${CLUSTERS_ROOT}, ${orphaned.length} orphaned (${mb(orphaned.reduce((sum, c) => sum + c.bytes, 0))}; keyops clusters prune removes them)`;
    print(
      context,
      { root: CLUSTERS_ROOT, clusters: clusters.map(asJson) },
      [head, ...clusters.map(describe)].join("\n"),
    );
    return 0;
  },
};

/** Removes the orphaned clusters: never one a server runs on, one in use, or one just made. */
export const clustersPrune: Command = {
  path: ["clusters", "prune"],
  usage: "keyops clusters prune [--json]",
  summary:
    "removes the orphaned clusters (their data directory is gone or uses another); never a running one",
  async run(context) {
    const removed = await pruneKeptClusters();
    const freed = removed.reduce((sum, c) => sum + c.bytes, 0);
    const head =
      removed.length === 0
        ? "no orphaned clusters to remove"
        : `removed ${removed.length} orphaned ${removed.length === 1 ? "cluster" : "clusters"}, ${mb(freed)} freed`;
    print(
      context,
      { root: CLUSTERS_ROOT, removed: removed.map(asJson), bytesFreed: freed },
      [head, ...removed.map(describe)].join("\n"),
    );
    return 0;
  },
};
