import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * Reads a request body up to `limit` bytes; undefined as soon as it is larger (answer with
 * `answerTooLarge` then). What is past the limit is never kept: the request is paused, and Node
 * discards the rest after the answer (the server's request timeout ends a sender that goes on).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      stop();
      req.pause();
      resolve(undefined);
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

/** 413, and the connection closes after it: the rest of the body is not wanted. */
export function answerTooLarge(res: ServerResponse, limit: number): void {
  if (res.headersSent) return;
  res.writeHead(413, { "content-type": "application/json", connection: "close" });
  res.end(JSON.stringify({ error: `body larger than ${limit} bytes` }));
}

/** A JSON answer; nothing when one was sent already (a late answer after a timeout). */
export function answerJson(res: ServerResponse, status: number, body: object): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
