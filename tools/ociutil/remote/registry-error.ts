import { OciError } from "../util/errors.js";

/** A registry's refusal or failure, in one line naming the registry and the object; `status` is the HTTP status. */
export class RegistryError extends OciError {
  override readonly name = "RegistryError";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}
