/**
 * The items of a long YAML block sequence (a manifest's `images`), found in the text so that they
 * can be parsed a slice at a time: the YAML library's document for a whole 25 MB manifest of
 * 200,000 images took 1.4 GB, where a slice of items takes a few megabytes.
 *
 * Only the plain shape is split: a block sequence whose items start with "-" at one indentation, with
 * no anchors, aliases, tabs or document markers. Anything else returns undefined, and the caller
 * parses the whole document as before (so every YAML rule still holds; only memory differs).
 */

export interface SequenceSlices {
  /** Where the sequence begins and ends in the text (the lines of its items). */
  start: number;
  end: number;
  /** The start offsets of the slices: each holds up to `itemsPerSlice` items, whole. */
  slices: number[];
  /** How many items come before each slice. */
  itemsBefore: number[];
}

const ITEMS_PER_SLICE = 1000;

/** Splits the block sequence that begins at or after `from` (the line after `images:`, or 0 for a bare list). */
export function sliceSequence(text: string, from: number, itemsPerSlice = ITEMS_PER_SLICE): SequenceSlices | undefined {
  let indent = -1;
  let start = -1;
  let end = text.length;
  const slices: number[] = [];
  const itemsBefore: number[] = [];
  let items = 0;
  let offset = from;
  while (offset < text.length) {
    const nl = text.indexOf("\n", offset);
    const lineEnd = nl < 0 ? text.length : nl;
    const line = text.slice(offset, lineEnd).replace(/\r$/, "");
    const next = nl < 0 ? text.length : nl + 1;
    const body = line.trimStart();
    const lineIndent = line.length - body.length;
    if (line.includes("\t")) return undefined;
    if (body === "" || body.startsWith("#")) {
      offset = next;
      continue;
    }
    if (indent < 0) {
      if (!isItemStart(body)) return undefined; // not a block sequence: a flow list, null, a mapping
      indent = lineIndent;
      start = offset;
    }
    if (lineIndent < indent || (lineIndent === indent && !isItemStart(body))) {
      end = offset;
      break;
    }
    if (/^(---|\.\.\.)(\s|$)/.test(line)) return undefined;
    // An anchor or an alias may tie one item to another: parse the whole document then.
    if (/(^|[\s[{,:-])[&*][^\s,\]}]/.test(body)) return undefined;
    if (lineIndent === indent) {
      if (items % itemsPerSlice === 0) {
        slices.push(offset);
        itemsBefore.push(items);
      }
      items++;
    }
    offset = next;
  }
  if (start < 0) return undefined;
  return { start, end, slices, itemsBefore };
}

function isItemStart(body: string): boolean {
  return body === "-" || body.startsWith("- ");
}
