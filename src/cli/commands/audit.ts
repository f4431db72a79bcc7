import { EXPORT_FORMATS, type ExportFormat, exportAuditEvents } from "../../audit/audit-export.js";
import { AuditHeadPublisher, lastPublishedHead } from "../../audit/audit-heads.js";
import { UserError } from "../../errors.js";
import { silentLogger } from "../../logger.js";
import { verifyAuditChain } from "../../workflows/audit-log.js";
import { type Command, print } from "../command.js";

export const auditVerify: Command = {
  path: ["audit", "verify"],
  usage: "keyops audit verify [--json]",
  summary: "recompute the audit chain and compare it with the last published head (exit 1 on any break)",
  async run(context) {
    const runtime = await context.runtime();
    const head = await lastPublishedHead(context.config.auditHeadFile);
    const verdict = await verifyAuditChain(runtime.db.prisma, head);
    const against = head
      ? `the head published at ${head.publishedAt} (event #${head.sequence})`
      : `no published head (${context.config.auditHeadFile} has none yet)`;
    const keyed = verdict.keyedFrom === null ? "none keyed" : `keyed from #${verdict.keyedFrom}`;
    print(
      context,
      { ...verdict, headFile: context.config.auditHeadFile },
      verdict.ok
        ? `audit chain ok: ${verdict.events} events (${keyed}), checked against ${against}`
        : `audit chain BROKEN at event #${verdict.brokenAt}: ${verdict.problem}` +
            (verdict.tailMissing
              ? ""
              : `\n  ${verdict.events} events (${keyed}), checked against ${against}`),
    );
    return verdict.ok ? 0 : 1;
  },
};

export const auditExport: Command = {
  path: ["audit", "export"],
  usage: "keyops audit export --format jsonl|ocsf [--since ISO-8601]",
  summary: "the audit log on stdout, one event per line (OCSF: API Activity events) for a SIEM",
  options: { format: { type: "string" }, since: { type: "string" } },
  async run(context) {
    const format = context.values.format;
    if (typeof format !== "string" || !(EXPORT_FORMATS as readonly string[]).includes(format))
      throw new UserError(`--format must be ${EXPORT_FORMATS.join(" or ")}`);
    const since = parseSince(context.values.since);
    const runtime = await context.runtime();
    await exportAuditEvents(runtime.db.prisma, format as ExportFormat, since, (line) =>
      context.io.stdout.write(line),
    );
    return 0;
  },
};

export const auditPublish: Command = {
  path: ["audit", "publish"],
  usage: "keyops audit publish [--json]",
  summary: "append the audit chain's head to KEYOPS_AUDIT_HEAD_FILE now (e.g. from cron)",
  async run(context) {
    const runtime = await context.runtime();
    const publisher = new AuditHeadPublisher(runtime.db.prisma, context.config.auditHeadFile, silentLogger);
    let head: Awaited<ReturnType<AuditHeadPublisher["publishOrThrow"]>>;
    try {
      head = await publisher.publishOrThrow("keyops audit publish");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!code) throw error;
      throw new UserError(
        `cannot write ${context.config.auditHeadFile} (${code}): set KEYOPS_AUDIT_HEAD_FILE`,
      );
    }
    print(
      context,
      { published: head ?? null, file: context.config.auditHeadFile },
      head
        ? `published event #${head.sequence} (${head.hash}) to ${context.config.auditHeadFile}`
        : `nothing new since the last published head in ${context.config.auditHeadFile}`,
    );
    return 0;
  },
};

function parseSince(value: string | boolean | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const at = typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : undefined;
  if (!at || Number.isNaN(at.getTime()))
    throw new UserError("--since must be an ISO-8601 date or time, e.g. 2026-12-01 or 2026-12-01T09:00:00Z");
  return at;
}
