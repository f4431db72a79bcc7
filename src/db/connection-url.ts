import { UserError } from "../errors.js";

/**
 * A postgresql:// connection string given on the command line, checked without ever echoing it:
 * the error names the option, never the value (it may hold a password).
 */
export function parseConnectionUrl(text: string | undefined, option: string): URL {
  const trimmed = text?.trim() ?? "";
  if (trimmed === "") throw new UserError(`${option} URL is required (a postgresql:// connection string)`);
  let url: URL | undefined;
  try {
    url = new URL(trimmed);
  } catch {
    url = undefined;
  }
  if (
    !url ||
    !/^postgres(ql)?:$/.test(url.protocol) ||
    (url.hostname === "" && !url.searchParams.has("host"))
  ) {
    throw new UserError(
      `${option} must be a postgresql:// connection string (postgresql://user@host/database)`,
    );
  }
  return url;
}

/** The connection string as it may be shown: the password (in the userinfo or a query parameter) masked. */
export function describeConnectionUrl(url: URL): string {
  const shown = new URL(url.toString());
  if (shown.password !== "") shown.password = "***";
  for (const name of [...shown.searchParams.keys()]) {
    if (/pass|secret|token|key/i.test(name)) shown.searchParams.set(name, "***");
  }
  return shown.toString().replace(":%2A%2A%2A@", ":***@").replaceAll("%2A%2A%2A", "***");
}

/** `text` with every form of the URL's password (as written and decoded) replaced by ***. */
export function withoutPassword(text: string, url: URL): string {
  const secrets = new Set<string>();
  const add = (value: string) => {
    if (value.length >= 1) secrets.add(value);
    try {
      const decoded = decodeURIComponent(value);
      if (decoded.length >= 1) secrets.add(decoded);
    } catch {
      // not percent-encoded
    }
  };
  if (url.password !== "") add(url.password);
  for (const [name, value] of url.searchParams) if (/pass|secret|token|key/i.test(name)) add(value);
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.replaceAll(secret, "***");
  return out;
}
