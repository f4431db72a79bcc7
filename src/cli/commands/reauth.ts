import { type Command, print } from "../command.js";

/**
 * The rows whose credentials were under a lost key version (recorded by /key-lost when the key
 * was unrecoverable) and still are: their users must re-authenticate. `--ids` prints the ids
 * alone, one a line.
 */
export const reauthList: Command = {
  path: ["reauth", "list"],
  usage: "keyops reauth list [--env E] [--ids] [--json]",
  summary: "rows whose users must re-authenticate (their key version was lost), by target and version",
  options: { ids: { type: "boolean" } },
  async run(context) {
    const { rows, resolved } = await (await context.runtime()).engine.reauthRows(context.environment);
    if (context.values.ids === true && !context.json) {
      context.io.stdout.write(rows.map((r) => `${r.rowId}\n`).join(""));
      return 0;
    }
    const groups = new Map<string, typeof rows>();
    for (const r of rows) {
      const key = `${r.target} v${r.version}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    const lines = [
      `${context.environment}: ${rows.length} ${rows.length === 1 ? "row needs" : "rows need"} re-authentication`,
    ];
    for (const [group, members] of groups) {
      lines.push(`  ${group}: ${members.length}`);
      for (const r of members) lines.push(`    ${r.rowId}${r.platform ? `  ${r.platform}` : ""}`);
    }
    if (resolved > 0)
      lines.push(
        `  ${resolved} more recorded ${resolved === 1 ? "row no longer needs" : "rows no longer need"} it: rewritten under another version since (reconnected) or deleted`,
      );
    print(
      context,
      {
        environment: context.environment,
        rows: rows.map((r) => ({
          target: r.target,
          version: r.version,
          rowId: r.rowId,
          platform: r.platform,
          recordedAt: r.recordedAt.toISOString(),
          workflowId: r.workflowId,
        })),
        resolved,
      },
      lines.join("\n"),
    );
    return 0;
  },
};
