/**
 * `ociutil structure-test`: container-structure-test YAML checked against an image's final filesystem
 * and config. A passing config passes; each kind of wrong check fails with the check, the platform,
 * what was expected and what was found; a multi-platform index is checked per platform.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDir, runOciutil } from "./harness/index.js";
import { buildLayeredImage, buildLayeredIndex, dir, file, LAYERED, type TarEntry } from "./imagefs/fixtures.js";

const CONFIG = {
  Env: ["PATH=/usr/bin:/bin", "APP_HOME=/usr/bin"],
  Entrypoint: ["/usr/bin/app"],
  Cmd: ["--serve"],
  User: "1000:1000",
  WorkingDir: "/data",
  ExposedPorts: { "8080/tcp": {} },
  Volumes: { "/data": {} },
  Labels: { "org.example.team": "infra" },
};

const DOCS: TarEntry[] = [
  dir("usr"),
  dir("usr/share"),
  dir("usr/share/doc"),
  dir("usr/share/doc/pkg-a"),
  file("usr/share/doc/pkg-a/copyright", "License: MIT\n"),
  dir("usr/share/doc/pkg-b"),
  file("usr/share/doc/pkg-b/copyright", "License: GPL-2+\n"),
];

let tmp: string;
let layout: string;
beforeAll(async () => {
  tmp = await makeTempDir("structure-test");
  layout = join(tmp, "layout");
  await buildLayeredImage(layout, [...LAYERED, DOCS], { ref: "v1", config: CONFIG });
});
afterAll(async () => removeTempDir(tmp));

async function config(name: string, yaml: string): Promise<string> {
  const p = join(tmp, name);
  await writeFile(p, yaml);
  return p;
}

const PASSING = `
schemaVersion: 2.0.0
fileExistenceTests:
  - name: tool is setuid root
    path: /bin/tool
    permissions: urwxr-xr-x
    uid: 0
    gid: 0
    isExecutableBy: other
  - name: shell is a symlink
    path: /bin/sh
    permissions: Lrwxrwxrwx
  - name: tmp is sticky
    path: /tmp
    permissions: dtrwxrwxrwx
  - name: app through an env var
    path: $APP_HOME/app
    uid: 1000
  - name: the whited-out secret is gone
    path: /etc/secret
    shouldExist: false
  - name: nothing of the opaque dir's old content
    path: /data/old1
    shouldExist: false
fileContentTests:
  - name: bash is root's shell
    path: /etc/passwd
    expectedContents: ['(?m)^root:x:0:0:.*:/bin/bash$']
    excludedContents: ['(?m)/bin/sh$']
  - name: through a symlink, multi-line
    path: /bin/sh
    expectedContents: ['(?s)^#!/bin/sh.*echo tool']
metadataTest:
  envVars:
    - key: PATH
      value: /usr/bin:/bin
    - key: APP_HOME
      value: ^/usr
      isRegex: true
  labels:
    - key: org.example.team
      value: infra
  exposedPorts: ["8080"]
  unexposedPorts: ["9090"]
  volumes: [/data]
  entrypoint: [/usr/bin/app]
  cmd: [--serve]
  workdir: /data
  user: "1000:1000"
licenseTests:
  - debian: true
    files: [/usr/share/doc/pkg-a/copyright]
`;

describe("structure-test", () => {
  it("passes a config whose checks hold", async () => {
    const r = await runOciutil(["structure-test", `${layout}:v1`, "--config", await config("pass.yaml", PASSING)]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(11);
    expect(lines.slice(0, -1).every((l) => l.startsWith("PASS linux/amd64 "))).toBe(true);
    expect(lines.at(-1)).toBe("linux/amd64: 10 passed, 0 failed");
  });

  it("fails each wrong check with what was expected and what was found", async () => {
    const wrong = await config(
      "wrong.yaml",
      `
schemaVersion: 2.0.0
fileExistenceTests:
  - name: passwd mode
    path: /etc/passwd
    permissions: -rw-r--r--
    uid: 1
  - name: deleted file
    path: /target-to-delete
  - name: not deleted
    path: /links/keeps-doomed
    shouldExist: false
fileContentTests:
  - name: content
    path: /lib/libfoo.so
    expectedContents: ['libfoo 1']
  - name: a directory
    path: /etc
metadataTest:
  user: root
  exposedPorts: ["9090"]
  envVars: [{ key: MISSING, value: x }]
licenseTests:
  - files: [/usr/share/doc/pkg-c/copyright]
`,
    );
    const r = await runOciutil(["structure-test", layout, "-c", wrong]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ociutil: structure test failed: 7 of 7 checks (linux/amd64)\n");
    expect(r.stdout.trim().split("\n")).toEqual([
      `FAIL linux/amd64 fileExistenceTests "passwd mode" (/etc/passwd): expected permissions -rw-r--r--, found -rw-------; expected uid 1, found 0`,
      `FAIL linux/amd64 fileExistenceTests "deleted file" (/target-to-delete): expected /target-to-delete to exist, found nothing there`,
      `FAIL linux/amd64 fileExistenceTests "not deleted" (/links/keeps-doomed): expected /links/keeps-doomed not to exist, found a file (-rw-------)`,
      `FAIL linux/amd64 fileContentTests "content" (/lib/libfoo.so): expected content matching /libfoo 1/, found "libfoo 2\\n"`,
      `FAIL linux/amd64 fileContentTests "a directory" (/etc): expected a file to read, found: /etc is a directory`,
      `FAIL linux/amd64 metadataTest: expected env MISSING, found none; expected user "root", found "1000:1000"; expected port 9090 exposed, found ["8080/tcp"]`,
      `FAIL linux/amd64 licenseTests[0]: expected a license file at /usr/share/doc/pkg-c/copyright, found: /usr/share/doc/pkg-c does not exist`,
      "linux/amd64: 0 passed, 7 failed",
    ]);
  });

  it("fails a Debian license test on a banned license", async () => {
    const agpl = join(tmp, "agpl");
    await buildLayeredImage(agpl, [[...DOCS, dir("usr/share/doc/pkg-x"), file("usr/share/doc/pkg-x/copyright", "License: agpl-3\n")]]);
    const r = await runOciutil(["structure-test", agpl, "-c", await config("license.yaml", "schemaVersion: 2.0.0\nlicenseTests:\n  - debian: true\n")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("FAIL linux/amd64 licenseTests[0]: expected no AGPL license in /usr/share/doc/pkg-x/copyright, found one\n");
  });

  it("checks every platform of an index, and names the one that fails", async () => {
    const multi = join(tmp, "multi");
    await buildLayeredIndex(multi, [
      { platform: { os: "linux", architecture: "amd64" }, layers: [[dir("etc"), file("etc/os-release", "ID=debian\n")]] },
      { platform: { os: "linux", architecture: "arm64", variant: "v8" }, layers: [[dir("etc")]] },
    ]);
    const cfg = await config("multi.yaml", "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: os-release\n    path: /etc/os-release\n");
    const r = await runOciutil(["structure-test", multi, "-c", cfg]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(
      [
        `PASS linux/amd64 fileExistenceTests "os-release" (/etc/os-release)`,
        "linux/amd64: 1 passed, 0 failed",
        `FAIL linux/arm64/v8 fileExistenceTests "os-release" (/etc/os-release): expected /etc/os-release to exist, found nothing there`,
        "linux/arm64/v8: 0 passed, 1 failed",
        "",
      ].join("\n"),
    );
    expect(r.stderr).toBe("ociutil: structure test failed: 1 of 2 checks (linux/arm64/v8)\n");
    const one = await runOciutil(["structure-test", multi, "-c", cfg, "--platform", "linux/amd64", "--json"]);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ passed: true, platforms: [{ platform: "linux/amd64", results: [{ pass: true }] }] });
  });

  it.each([
    ["commandTests", "schemaVersion: 2.0.0\ncommandTests:\n  - name: x\n    command: ls\n", /commandTests run the image and need a container runtime/],
    ["a misspelt key", "schemaVersion: 2.0.0\nfileExistenceTest: []\n", /Unrecognized key.*fileExistenceTest/],
    ["a wrong schema version", "schemaVersion: 1.0.0\n", /schemaVersion/],
    ["not YAML", "schemaVersion: [\n", /is not YAML/],
    ["a bad regex", "schemaVersion: 2.0.0\nfileContentTests:\n  - name: x\n    path: /etc/passwd\n    expectedContents: ['(']\n", /invalid regular expression \/\(\//],
    ["no checks", "schemaVersion: 2.0.0\n", /structure test has no checks/],
  ])("refuses %s with one line", async (name, yaml, pattern) => {
    const r = await runOciutil(["structure-test", layout, "-c", await config(`bad-${name.replace(/ /g, "-")}.yaml`, yaml)]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });
});
