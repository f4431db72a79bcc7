// Small probes for the benchmark: CPU time of this process, of the
// PostgreSQL server (postmaster and all its children) and system-wide iowait, from /proc.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** A point in time with cumulative CPU seconds. */
export interface Usage {
  /** performance.now(), ms */
  at: number;
  nodeCpu: number;
  /** null when /proc is not readable (not Linux). */
  pgCpu: number | null;
  iowait: number | null;
}

export interface UsageDelta {
  seconds: number;
  nodeCpu: number;
  pgCpu: number | null;
  iowait: number | null;
}

function clockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** /proc/<pid>/stat fields after the `(comm)`: [0]=state, [1]=ppid, [11]=utime, [12]=stime, [13]=cutime, [14]=cstime. */
function statFields(pid: string): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined; // exited meanwhile
  }
}

export class UsageProbe {
  private readonly ticks = clockTicks();

  constructor(private readonly postmasterPid: number | undefined) {}

  sample(): Usage {
    const cpu = process.cpuUsage();
    return {
      at: performance.now(),
      nodeCpu: (cpu.user + cpu.system) / 1e6,
      pgCpu: this.pgCpu(),
      iowait: this.iowait(),
    };
  }

  /** Postmaster's own and reaped children's time, plus every live child's (backends, walwriter, checkpointer...). */
  private pgCpu(): number | null {
    if (this.postmasterPid === undefined) return null;
    const own = String(this.postmasterPid);
    const postmaster = statFields(own);
    if (!postmaster) return null;
    const num = (fields: string[], i: number) => Number(fields[i] ?? 0);
    let ticks = num(postmaster, 11) + num(postmaster, 12) + num(postmaster, 13) + num(postmaster, 14);
    let entries: string[];
    try {
      entries = readdirSync("/proc");
    } catch {
      return null;
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry) || entry === own) continue;
      const fields = statFields(entry);
      if (fields && fields[1] === own) ticks += num(fields, 11) + num(fields, 12);
    }
    return ticks / this.ticks;
  }

  private iowait(): number | null {
    try {
      const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
      const fields = line.trim().split(/\s+/);
      return fields[0] === "cpu" ? Number(fields[5]) / this.ticks : null;
    } catch {
      return null;
    }
  }
}

export function delta(from: Usage, to: Usage): UsageDelta {
  const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
  return {
    seconds: (to.at - from.at) / 1000,
    nodeCpu: to.nodeCpu - from.nodeCpu,
    pgCpu: minus(from.pgCpu, to.pgCpu),
    iowait: minus(from.iowait, to.iowait),
  };
}

/** The postmaster's pid from the cluster's postmaster.pid (line 1). */
export function postmasterPid(clusterDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${clusterDir}/postmaster.pid`, "utf8").split("\n", 1)[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
