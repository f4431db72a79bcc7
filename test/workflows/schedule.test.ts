import { describe, expect, it } from "vitest";
import { ENVIRONMENTS } from "../../src/environments.js";
import { nextQuarter, quarterOf } from "../../src/workflows/calendar.js";
import { quarterlyMaintenance } from "../../src/workflows/definitions/quarterly-maintenance.js";
import { type ScheduledStart, WorkflowScheduler } from "../../src/workflows/scheduler.js";
import type { WorkflowService } from "../../src/workflows/workflow-service.js";
import { testLogger } from "../support/engine.js";

describe("calendar quarters in the team's time zone", () => {
  it("a quarter begins at midnight in the team's zone, not at midnight UTC", () => {
    // 23:30 UTC on 31 December is already 00:30 on 1 January in Berlin.
    const at = new Date("2026-12-31T23:30:00Z");
    expect(quarterOf(at, "UTC").period).toBe("2026-Q4");
    const berlin = quarterOf(at, "Europe/Berlin");
    expect(berlin.period).toBe("2027-Q1");
    expect(berlin.start.toISOString()).toBe("2026-12-31T23:00:00.000Z");
    expect(berlin.end.toISOString()).toBe("2027-03-31T22:00:00.000Z"); // summer time by then
    // Los Angeles is still in the old year for eight hours after midnight UTC.
    expect(quarterOf(new Date("2027-01-01T07:59:59Z"), "America/Los_Angeles").period).toBe("2026-Q4");
    expect(quarterOf(new Date("2027-01-01T08:00:00Z"), "America/Los_Angeles").period).toBe("2027-Q1");
  });

  it("the next quarter starts at the team's midnight; an unknown zone is refused", () => {
    expect(nextQuarter(new Date("2026-12-02T10:00:00Z"), "Europe/Berlin").start.toISOString()).toBe(
      "2026-12-31T23:00:00.000Z",
    );
    expect(nextQuarter(new Date("2026-12-31T23:00:00Z"), "Europe/Berlin").period).toBe("2027-Q2");
    expect(nextQuarter(new Date("2027-02-10T00:00:00Z"), "Asia/Kolkata").start.toISOString()).toBe(
      "2027-03-31T18:30:00.000Z",
    );
    expect(() => quarterOf(new Date(), "Mars/Olympus")).toThrow(/unknown time zone/);
  });
});

describe("the scheduler's plan", () => {
  const planWith = async (now: string, timeZone: string, nextDue: Date[] = []) => {
    const sent: ScheduledStart[] = [];
    const scheduler = new WorkflowScheduler({
      service: {} as WorkflowService,
      schedules: {
        list: async () =>
          nextDue.map((nextDueAt) => ({
            environment: "production" as const,
            nextDueAt,
            lastRotatedAt: new Date("2026-09-01T00:00:00Z"),
            timeZone,
            recordedBy: "U1",
            workflowId: "w",
          })),
      },
      jobs: { startAt: async (start) => void sent.push(start) },
      channelId: "C0SECURITY",
      timeZone,
      log: testLogger,
      now: () => new Date(now),
    });
    await scheduler.plan();
    return sent;
  };

  it("queues the next quarter's start at midnight in the team's zone, named by its period", async () => {
    expect(await planWith("2026-12-31T22:59:59Z", "Europe/Berlin")).toEqual([
      {
        kind: "quarterly-maintenance",
        trigger: "quarter",
        at: "2026-12-31T23:00:00.000Z",
        key: "quarterly-maintenance:quarter:2027-Q1",
      },
    ]);
    // One second later Berlin is in 2027-Q1: the next start is April's.
    expect((await planWith("2026-12-31T23:00:01Z", "Europe/Berlin"))[0]?.key).toBe(
      "quarterly-maintenance:quarter:2027-Q2",
    );
    // In UTC the same moment is still 2026-Q4.
    expect((await planWith("2026-12-31T23:00:01Z", "UTC"))[0]).toMatchObject({
      at: "2027-01-01T00:00:00.000Z",
      key: "quarterly-maintenance:quarter:2027-Q1",
    });
  });

  it("queues a start at each future recorded next rotation date, none for one already past", async () => {
    const sent = await planWith("2027-01-10T00:00:00Z", "UTC", [
      new Date("2027-02-20T09:00:00Z"),
      new Date("2027-01-01T00:00:00Z"),
    ]);
    expect(sent.filter((s) => s.trigger === "rotation-due")).toEqual([
      {
        kind: "quarterly-maintenance",
        trigger: "rotation-due",
        at: "2027-02-20T09:00:00.000Z",
        environment: "production",
        key: "quarterly-maintenance:rotation-due:production:2027-02-20T09:00:00.000Z",
      },
    ]);
  });

  it("a start's inputs: the period in the team's zone, due when it fell due, why it started", () => {
    const schedule = quarterlyMaintenance.schedule;
    expect(
      schedule?.inputs({ kind: "quarter", at: new Date("2026-12-31T23:00:00Z"), timeZone: "Europe/Berlin" }),
    ).toEqual({
      environments: [...ENVIRONMENTS],
      period: "2027-Q1",
      dueAt: "2026-12-31T23:00:00.000Z",
      timeZone: "Europe/Berlin",
      trigger: "2027-Q1 began",
    });
    expect(
      schedule?.inputs({
        kind: "rotation-due",
        at: new Date("2027-02-20T09:00:00Z"),
        timeZone: "UTC",
        environment: "production",
      }),
    ).toMatchObject({ period: "2027-Q1", trigger: "production rotation due" });
  });
});

describe("/key-maintenance's text", () => {
  const defaults = {
    environment: "production" as const,
    now: new Date("2026-12-31T23:30:00Z"),
    timeZone: "Europe/Berlin",
  };
  it("none: this quarter (the team's), every environment; one environment: that one", () => {
    expect(quarterlyMaintenance.parseCommand("", defaults)).toEqual({
      inputs: { environments: [...ENVIRONMENTS], period: "2027-Q1" },
    });
    expect(quarterlyMaintenance.parseCommand(" Staging ", defaults)).toEqual({
      inputs: { environments: ["staging"], period: "2027-Q1" },
    });
  });

  it("refuses anything else, saying what it takes", () => {
    for (const text of ["moon", "production now", "2027-Q2"])
      expect(() => quarterlyMaintenance.parseCommand(text, defaults)).toThrow(
        "/key-maintenance [environment]: this quarter's (2027-Q1) key maintenance, of every environment or of one (development, staging, production). Nothing was started.",
      );
  });
});
