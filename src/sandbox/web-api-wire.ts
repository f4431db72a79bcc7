/** How Slack's Web API arrives and answers on the wire, for the Slack stand-ins (the sandbox's and the tests'). */

/** A call's arguments: form fields (those @slack/web-api JSON-encoded decoded again) or a JSON body. */
export function webApiArgs(body: Buffer, contentType: string | undefined): Record<string, unknown> {
  const text = body.toString("utf8");
  if (contentType?.startsWith("application/json")) {
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }
  const args: Record<string, unknown> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    args[name] = /^[[{]/.test(value) ? jsonOrText(value) : value;
  }
  return args;
}

function jsonOrText(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** The bytes posted to an upload URL: @slack/web-api sends multipart/form-data with one file part; anything else is taken raw. */
export async function uploadedFileText(body: Buffer, contentType: string | undefined): Promise<string> {
  if (!contentType?.startsWith("multipart/form-data")) return body.toString("utf8");
  const form = await new Response(new Uint8Array(body), {
    headers: { "content-type": contentType },
  }).formData();
  const file = [...form.values()].find((value) => typeof value !== "string");
  return file ? file.text() : "";
}

/** The text and blocks of chat.postMessage, chat.postEphemeral or chat.update. */
export function messageContent(a: Record<string, unknown>): { text?: string; blocks?: unknown[] } {
  return {
    ...(typeof a.text === "string" ? { text: a.text } : {}),
    ...(Array.isArray(a.blocks) ? { blocks: a.blocks } : {}),
  };
}

/** A message object as chat.postMessage and chat.update answer it. */
export function messageJson(m: {
  user: string;
  botId: string;
  ts: string;
  text?: string;
  threadTs?: string;
  blocks?: unknown[];
}) {
  return {
    type: "message",
    user: m.user,
    bot_id: m.botId,
    text: m.text ?? "",
    ts: m.ts,
    ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
    ...(m.blocks ? { blocks: m.blocks } : {}),
  };
}

/** The workspace a stand-in answers for. */
export interface StandinWorkspace {
  teamId: string;
  teamDomain: string;
  teamName: string;
  botUserId: string;
  botId: string;
}

/** auth.test: who the bot token belongs to (the bot asks at start). */
export function authTestAnswer(w: StandinWorkspace) {
  return {
    ok: true as const,
    url: `https://${w.teamDomain}.slack.com/`,
    team: w.teamName,
    user: "keyops",
    team_id: w.teamId,
    user_id: w.botUserId,
    bot_id: w.botId,
    is_enterprise_install: false,
  };
}

/** conversations.info: a public channel the bot is a member of. */
export function channelAnswer(id: string, name: string) {
  return {
    ok: true as const,
    channel: { id, name, is_channel: true, is_private: false, is_archived: false, is_member: true },
  };
}

/** A POST to /api/<method>: the method, its arguments (query and body) and the token (Authorization, else `token`). */
export function webApiCall(
  url: URL,
  headers: { authorization?: string | undefined; "content-type"?: string | undefined },
  body: Buffer,
): { method: string; args: Record<string, unknown>; token: string | undefined } {
  const args = { ...Object.fromEntries(url.searchParams), ...webApiArgs(body, headers["content-type"]) };
  const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? "")?.[1];
  return {
    method: url.pathname.slice("/api/".length),
    args,
    token: bearer ?? (typeof args.token === "string" ? args.token : undefined),
  };
}
