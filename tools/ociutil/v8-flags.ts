/**
 * V8 settings, applied before anything else is evaluated (main.ts imports this module first).
 *
 * undici parses HTTP with llhttp compiled to WebAssembly, instantiated at the first connection. V8's
 * optimizing tier (TurboFan) spent ~60 ms and ~30 MB of peak RSS compiling a parser that mostly
 * steps over body bytes; its baseline tier (Liftoff) parses just as fast here. Measured with
 * bench/pull-push.mjs: a 512 MiB pull went from ~150 MB to ~135 MB peak RSS, and no slower.
 */
import { setFlagsFromString } from "node:v8";

// V8 prints "unrecognized flag" for a flag it no longer has: set it only on the V8s it was measured on
// (Node 20: 11.3, Node 24: 13.6).
const v8Major = Number(process.versions.v8.split(".")[0]);
if (v8Major >= 11 && v8Major <= 13) setFlagsFromString("--liftoff-only");
