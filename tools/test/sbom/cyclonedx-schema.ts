/**
 * The official CycloneDX 1.5 JSON schema, as @cyclonedx/cyclonedx-library ships it (a devDependency:
 * the tests validate against the standard's own schema file rather than our reading of it), checked
 * with ajv. The schema refers to its SPDX license list and JSF schemas by file name; they are added
 * under the names it uses.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

const require = createRequire(import.meta.url);
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export function cyclonedx15Validator(): ValidateFunction {
  const dir = join(dirname(require.resolve("@cyclonedx/cyclonedx-library/package.json")), "res", "schema");
  const load = (f: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, f), "utf8")) as Record<string, unknown>;
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  // ajv-formats has no checker for these two; they are accepted as any string (and not warned about).
  ajv.addFormat("iri-reference", true);
  ajv.addFormat("idn-email", true);
  for (const f of ["spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"]) {
    ajv.addSchema({ ...load(f), $id: `http://cyclonedx.org/schema/${f}` });
  }
  return ajv.compile(load("bom-1.5.SNAPSHOT.schema.json"));
}
