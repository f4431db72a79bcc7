import { describe, expect, it } from "vitest";
import { escapeText } from "../../src/views/format.js";
import { renderHelp } from "../../src/views/help.js";
import { OFFER_ACTION_PATTERN } from "../../src/views/ids.js";
import { blockKitProblems } from "../../src/views/limits.js";
import { renderPostmortem } from "../../src/views/postmortem.js";
import { renderHome, renderStatus } from "../../src/views/status.js";
import { renderThreadLine } from "../../src/views/thread-line.js";
import { renderWorkflowMessage } from "../../src/views/workflow-message.js";
import { PermissionRefusedError, type Role, refusal, rolesOf } from "../../src/workflows/authority.js";
import { transition, type WorkflowCommand } from "../../src/workflows/state-machine.js";
import type { StepSnapshot, TimelineEvent, WorkflowSnapshot } from "../../src/workflows/types.js";
import {
  AUDIT_ACTIONS,
  everyEvent,
  everyModal,
  everyState,
  everyStatusData,
  FLAVOURS,
  type Flavour,
  put,
} from "./every-state-cases.js";
import { ALL_ENVIRONMENTS, actionsByStep, keyring, long, NOW, snapshot, visibleText } from "./fixtures.js";

/**
 * Every workflow definition in every state its steps can reach, with ordinary and with hostile data,
 * must render within Block Kit's limits; so must every modal, help, status and the App Home.
 */

/** Independent of the renderer: which steps may have buttons now. */
function mayHaveButtons(w: WorkflowSnapshot, s: StepSnapshot): boolean {
  if (w.status !== "OPEN") return false;
  // What a done step offers to start (the schedule review's /key-rotate) stays while the workflow is open.
  if ((s.result?.offers?.length ?? 0) > 0) return true;
  if (["DONE", "SKIPPED", "RUNNING"].includes(s.status)) return false;
  if (!(s.needs ?? []).every((key) => w.steps.find((x) => x.key === key)?.status === "DONE")) return false;
  return !(s.automatic && s.status !== "FAILED");
}

describe("every workflow message in every state stays within Block Kit's limits", () => {
  const states = everyState();

  it(`keeps every limit (${states.length} states)`, () => {
    for (const { name, w } of states) {
      expect(blockKitProblems(renderWorkflowMessage(w, NOW), "message"), name).toEqual([]);
    }
  });

  it("lists every step, and gives buttons only to steps that can be acted on now", () => {
    for (const { name, w } of states) {
      const { blocks } = renderWorkflowMessage(w, NOW);
      const shown = visibleText(blocks);
      for (const s of w.steps)
        expect(shown, `${name}: ${s.key}`).toContain(`*${escapeText(s.title).slice(0, 20)}`);
      const withButtons = Object.keys(actionsByStep(blocks));
      for (const key of withButtons) {
        const s = w.steps.find((x) => x.key === key);
        expect(s && mayHaveButtons(w, s), `${name}: ${key} has buttons`).toBe(true);
      }
      const withheld = w.steps.filter((s) => mayHaveButtons(w, s) && !withButtons.includes(s.key));
      if (withheld.length > 0) expect(shown, name).toContain(`${withheld.length} more open step`);
    }
  });

  it("posts no more than 50 blocks even for 40 platforms with every sub-step open", () => {
    const biggest = states.filter((s) => s.name.includes("40 platforms"));
    expect(biggest.length).toBeGreaterThan(100);
    for (const { w } of biggest) expect(renderWorkflowMessage(w, NOW).blocks.length).toBeLessThanOrEqual(50);
  });
});

/**
 * The README's "Who may do what", written out apart from authority.ts: which personas may press
 * each button (on an unassigned step; an assigned step is finished only by its assignee).
 */
const MAY: Record<string, (roles: ReadonlySet<Role>, assigned: boolean) => boolean> = {
  complete: (r, assigned) => !assigned || r.has("assignee"),
  skip: (r, assigned) => !assigned || r.has("assignee"),
  run: (r, assigned) => !assigned || r.has("assignee"),
  retry: (r, assigned) => !assigned || r.has("assignee"),
  approve: (r) => r.has("approver") && !r.has("requester"),
  reject: (r) => r.has("approver") && !r.has("requester"),
  "assign-other": (r) => r.has("requester") || r.has("approver") || r.has("assignee"),
  "assign-self": (r, assigned) => !assigned || r.has("requester") || r.has("approver") || r.has("assignee"),
  cancel: (r) => r.has("requester") || r.has("approver"),
  "page-acknowledge": (r) => r.has("on-call") || r.has("approver") || r.has("requester"),
  "page-again": (r) => r.has("on-call") || r.has("approver") || r.has("requester"),
  "page-resolve": (r) => r.has("approver"),
  "start-offered": (r, assigned) => !assigned || r.has("assignee"),
};

const BUTTON_COMMANDS: Record<string, (actor: string, stepKey: string) => WorkflowCommand> = {
  step_done: (actor, stepKey) => ({ type: "complete", actor, stepKey }),
  step_run: (actor, stepKey) => ({ type: "run", actor, stepKey }),
  step_retry: (actor, stepKey) => ({ type: "retry", actor, stepKey }),
  step_approve: (actor, stepKey) => ({ type: "approve", actor, stepKey }),
  step_reject: (actor, stepKey) => ({ type: "reject", actor, stepKey, reason: "not now" }),
  step_skip: (actor, stepKey) => ({ type: "skip", actor, stepKey, reason: "not needed" }),
  page_acknowledge: (actor) => ({ type: "page-acknowledge", actor }),
  page_resolve: (actor) => ({ type: "page-resolve", actor }),
  page_again: (actor) => ({ type: "page-again", actor }),
  workflow_cancel: (actor) => ({ type: "cancel", actor, reason: "a drill" }),
};

function buttonCommand(actionId: string, actor: string, stepKey: string) {
  const toCommand = BUTTON_COMMANDS[actionId];
  if (!toCommand) throw new Error(`a button this test does not know: ${actionId}`);
  const command = toCommand(actor, stepKey);
  return { command, rule: command.type };
}

describe("every button shown is one transition() accepts, for the people it is meant for", () => {
  const APPROVER_ID = "U0APPROVER";
  const BYSTANDER_ID = "U0BYSTANDR";

  it("in every state, for requester, approver, on call, assignee, subject and bystander", () => {
    let checked = 0;
    let offered = 0;
    for (const { name, w } of everyState()) {
      // Forty platforms are forty more of the same sub-steps: the two-platform states stand for them.
      if (w.status !== "OPEN" || name.includes("40 platforms")) continue;
      // Unreachable: nobody offboards themselves, and no step is assigned to the person leaving.
      const subject = w.inputs.subjectUserId;
      if (subject === w.requestedBy || w.steps.some((s) => s.assignee === subject)) continue;
      const { blocks } = renderWorkflowMessage(w, NOW);
      const actions = (blocks as { type: string; block_id?: string; elements?: { action_id?: string }[] }[])
        .filter((b) => b.type === "actions")
        .flatMap((b) =>
          (b.elements ?? []).map((e) => ({ blockId: b.block_id ?? "", actionId: e.action_id ?? "" })),
        );
      for (const { blockId, actionId } of actions) {
        const stepKey = blockId.startsWith("step|") ? (blockId.split("|")[2] ?? "") : "";
        const step = w.steps.find((s) => s.key === stepKey);
        const personas = [
          { who: "requester", id: w.requestedBy, isApprover: false },
          { who: "approver", id: APPROVER_ID, isApprover: true },
          ...w.page.onCall.slice(0, 1).map((id) => ({ who: "on call", id, isApprover: false })),
          ...(step?.assignee ? [{ who: "assignee", id: step.assignee, isApprover: false }] : []),
          ...(w.inputs.subjectUserId
            ? [{ who: "subject", id: w.inputs.subjectUserId, isApprover: false }]
            : []),
          { who: "bystander", id: BYSTANDER_ID, isApprover: false },
        ];
        let acceptedFor = 0;
        for (const persona of personas) {
          const roles = rolesOf(w, persona.id, persona.isApprover, step);
          const assigned = step?.assignee !== undefined;
          if (OFFER_ACTION_PATTERN.test(actionId)) {
            // An offer is no transition of this workflow: the service asks authority.ts, then starts the other.
            const may = !roles.has("subject") && (MAY["start-offered"]?.(roles, assigned) ?? false);
            const refused = refusal(
              w,
              { verb: "start-offered", actor: persona.id, stepKey },
              persona.isApprover,
            );
            const context = `${name}: ${actionId} on ${stepKey} by the ${persona.who}`;
            if (may) expect(refused, context).toBeNull();
            else expect(refused, context).toBeInstanceOf(PermissionRefusedError);
            if (may) acceptedFor += 1;
            offered += 1;
            checked += 1;
            continue;
          }
          const variants: { command: WorkflowCommand; rule: string }[] =
            actionId === "step_assign"
              ? [
                  {
                    command: { type: "assign", actor: persona.id, stepKey, assignee: persona.id },
                    rule: "assign-self",
                  },
                  {
                    command: { type: "assign", actor: persona.id, stepKey, assignee: "U0COLLEAGU" },
                    rule: "assign-other",
                  },
                ]
              : [buttonCommand(actionId, persona.id, stepKey)];
          for (const { command, rule } of variants) {
            const may = !roles.has("subject") && (MAY[rule]?.(roles, assigned) ?? false);
            const context = `${name}: ${actionId} on ${stepKey || blockId} by the ${persona.who}`;
            if (may) {
              expect(
                () => transition(w, command, { isApprover: persona.isApprover }, NOW),
                context,
              ).not.toThrow();
              acceptedFor += 1;
            } else {
              expect(() => transition(w, command, { isApprover: persona.isApprover }, NOW), context).toThrow(
                PermissionRefusedError,
              );
            }
            checked += 1;
          }
        }
        expect(acceptedFor, `${name}: ${actionId} on ${stepKey || blockId} is for nobody`).toBeGreaterThan(0);
      }
    }
    expect(checked).toBeGreaterThan(10_000);
    expect(offered).toBeGreaterThan(0);
  });
});

describe("every other surface stays within Block Kit's limits", () => {
  it("every thread line, for every audit action, with hostile details, and a drill's", () => {
    const events = everyEvent();
    expect(new Set(events.map((e) => e.action)).size).toBe(AUDIT_ACTIONS.length);
    for (const e of events) {
      const line = renderThreadLine(e, long(255));
      expect(line.length, e.action).toBeLessThanOrEqual(3000);
      expect(line, e.action).not.toMatch(/undefined|\[object/);
      if (e.detail.drill) expect(line, e.action).toMatch(/^\*\[DRILL\]\* /);
    }
  });

  it("every modal, for hostile titles and refs", () => {
    const modals = everyModal();
    for (const modal of modals) expect(blockKitProblems(modal, "modal"), modal.callback_id).toEqual([]);
  });

  it("help, status and the App Home with 200 open workflows and 3 keyrings of 50 versions", () => {
    for (const data of everyStatusData()) {
      expect(blockKitProblems({ blocks: renderStatus(data, NOW) }, "message")).toEqual([]);
      expect(blockKitProblems(renderHome(data, NOW), "home")).toEqual([]);
    }
    expect(blockKitProblems({ blocks: renderHelp() }, "message")).toEqual([]);
  });
});

describe("key material", () => {
  /** 32 random-looking bytes in base64, the shape of a data key, planted where key data lives. */
  const FAKE_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString("base64");
  const FORBIDDEN = ["key", "wrappedKey", "keyMaterial", "secret", "plaintext"];

  function watched<T extends object>(target: T, reads: Set<string>): T {
    const planted = Object.fromEntries(FORBIDDEN.map((name) => [name, FAKE_KEY]));
    return new Proxy(Object.assign(target, planted), {
      get(object, property, receiver) {
        if (typeof property === "string") reads.add(property);
        return Reflect.get(object, property, receiver);
      },
    });
  }

  it("the renderers read only fingerprints and figures from key data, and never print a key", () => {
    const figureReads = new Set<string>();
    const generatedReads = new Set<string>();
    const versionReads = new Set<string>();
    let w = snapshot("key-rotate", { inputs: { environments: ALL_ENVIRONMENTS } });
    for (const s of w.steps) put(w, s, "DONE", FLAVOURS[0] as Flavour);
    w = { ...w, status: "RESOLVED", closedAt: NOW, closedBy: "keyops" };
    for (const s of w.steps) {
      if (s.result?.rotations) s.result.rotations = s.result.rotations.map((r) => watched(r, figureReads));
      if (s.result?.generated) s.result.generated = s.result.generated.map((g) => watched(g, generatedReads));
    }
    const keyrings = ALL_ENVIRONMENTS.map((environment) => {
      const k = keyring(environment, 12);
      return { ...k, versions: k.versions.map((v) => watched(v, versionReads)) };
    });
    const events: TimelineEvent[] = [
      {
        sequence: 1,
        at: NOW,
        actor: "keyops",
        action: "step.succeeded",
        stepKey: "reencrypt",
        detail: { summary: "ok" },
      },
    ];
    const output = JSON.stringify([
      renderWorkflowMessage(w, NOW),
      renderWorkflowMessage({ ...w, status: "OPEN" }, NOW),
      renderStatus({ workflows: [w], keyrings }, NOW),
      renderHome({ workflows: [w], keyrings }, NOW),
      renderPostmortem(w, events, {}),
    ]);
    expect(output).not.toContain(FAKE_KEY);
    for (const reads of [figureReads, generatedReads, versionReads]) {
      for (const name of FORBIDDEN) expect(reads.has(name), name).toBe(false);
    }
    expect(figureReads.has("toFingerprint")).toBe(true);
    expect(versionReads.has("fingerprint")).toBe(true);
  });
});
