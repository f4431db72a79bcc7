/** The sandbox's workspace, channel and people: one persona per part someone plays in a workflow. */

export const SANDBOX_WORKSPACE = {
  teamId: "T0SANDBOX",
  teamDomain: "keyops-sandbox",
  teamName: "KeyOps sandbox",
  appId: "A0KEYOPSSB",
  botUserId: "U0KEYOPSBT",
  botId: "B0KEYOPSBT",
  botName: "KeyOps",
} as const;

/** Slack's own user, which answers a command the workspace does not have. */
export const SLACKBOT = "USLACKBOT";

export const SANDBOX_CHANNEL = { id: "C0SECURITY", name: "security" } as const;

export interface Persona {
  id: string;
  name: string;
  /** What the persona is for, shown in the persona switcher. */
  role: string;
  email: string;
  tz: string;
}

export const PERSONAS = {
  requester: {
    id: "U0RILEYREQ",
    name: "Riley",
    role: "requester",
    email: "riley@keyops-sandbox.invalid",
    tz: "Europe/Berlin",
  },
  approver: {
    id: "U0AVERYAPR",
    name: "Avery",
    role: "approver",
    email: "avery@keyops-sandbox.invalid",
    tz: "America/New_York",
  },
  onCall: {
    id: "U0OSCARONC",
    name: "Oscar",
    role: "on call (PagerDuty), approver",
    email: "oscar@keyops-sandbox.invalid",
    tz: "Europe/London",
  },
  leaving: {
    id: "U0LEELEAVE",
    name: "Lee",
    role: "person leaving (can read the production key)",
    email: "lee@keyops-sandbox.invalid",
    tz: "Asia/Tokyo",
  },
  bystander: {
    id: "U0BLAIRBYS",
    name: "Blair",
    role: "bystander",
    email: "blair@keyops-sandbox.invalid",
    tz: "America/Los_Angeles",
  },
} as const satisfies Record<string, Persona>;

export const PERSONA_LIST: readonly Persona[] = Object.values(PERSONAS);

/** Who may approve rotations in the sandbox (KEYOPS_APPROVERS). */
export const SANDBOX_APPROVERS = [PERSONAS.approver.id, PERSONAS.onCall.id];

export function personaById(id: string): Persona | undefined {
  return PERSONA_LIST.find((p) => p.id === id);
}

/** `<@U…>` shows these names; the bot shows as KeyOps. */
export function userNames(): Record<string, string> {
  return {
    ...Object.fromEntries(PERSONA_LIST.map((p) => [p.id, p.name])),
    [SANDBOX_WORKSPACE.botUserId]: SANDBOX_WORKSPACE.botName,
    [SLACKBOT]: "Slackbot",
  };
}
