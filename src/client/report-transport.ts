import type pg from "pg";
import type { ClientReport, ReportAnswer } from "./report.js";
import { recordClientReport } from "./report-store.js";

/** How a report reaches KeyOps, and KeyOps's answer comes back. */
export interface ReportTransport {
  send(report: ClientReport): Promise<ReportAnswer>;
}

export class ReportRejectedError extends Error {
  override name = "ReportRejectedError";
}

/** Env clients: `POST <KEYOPS_URL>/client/report` with the environment's report token. */
export class HttpReportTransport implements ReportTransport {
  readonly #endpoint: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {
    this.#endpoint = new URL("client/report", baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`).toString();
  }

  async send(report: ClientReport): Promise<ReportAnswer> {
    const response = await fetch(this.#endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${this.token}` },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) {
      // The body is KeyOps's own short error; the token never appears in it.
      const detail = await response.text().catch(() => "");
      throw new ReportRejectedError(
        `KeyOps refused the report (HTTP ${response.status}) ${detail.slice(0, 200)}`.trim(),
      );
    }
    const answer = (await response.json()) as Partial<ReportAnswer>;
    return {
      activeVersion: typeof answer.activeVersion === "number" ? answer.activeVersion : null,
      versions: Array.isArray(answer.versions) ? answer.versions : [],
    };
  }
}

/** Keyring clients write their report to the KeyOps database they read keys from. */
export class DatabaseReportTransport implements ReportTransport {
  constructor(private readonly pool: pg.Pool) {}

  send(report: ClientReport): Promise<ReportAnswer> {
    return recordClientReport(this.pool, report);
  }
}
