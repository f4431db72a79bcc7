import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface LoopbackCertificates {
  /** The CA certificate (PEM) the server's certificate chains to: what a client trusts. */
  ca: string;
  key: string;
  cert: string;
}

/**
 * A throw-away CA and a server certificate for 127.0.0.1 and localhost, valid two days, made with
 * the openssl command: for the PagerDuty stand-ins (tests and the sandbox), which speak HTTPS as
 * PagerDuty does. The private keys exist only in memory and a temporary directory removed at once.
 */
export function loopbackCertificates(): LoopbackCertificates {
  const dir = mkdtempSync(path.join(os.tmpdir(), "keyops-loopback-tls-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    openssl(
      "req",
      "-x509",
      ...ecKey,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=KeyOps loopback CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign",
    );
    openssl("req", ...ecKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
    writeFileSync(
      path.join(dir, "server.ext"),
      [
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
      ].join("\n"),
    );
    const serial = `0x${randomBytes(8).toString("hex")}`;
    openssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      serial,
      "-days",
      "2",
      "-extfile",
      "server.ext",
      "-out",
      "server.crt",
    );
    const read = (name: string) => readFileSync(path.join(dir, name), "utf8");
    return { ca: read("ca.crt"), key: read("server.key"), cert: read("server.crt") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
