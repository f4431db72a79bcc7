// Worker-thread entry: the sources are TypeScript run through tsx, which a worker must register
// for itself (it does not inherit the parent's loader when the parent registered it in code).
import { register } from "tsx/esm/api";

register();
await import("./reencrypt-worker-main.ts");
