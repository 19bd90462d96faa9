import { badRequest } from "./errors.js";

/** A decoded form body or query string: `a[b][c]=x` nests, `a[]=x` / `a[0]=x` make lists. */
export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

/**
 * Parses `application/x-www-form-urlencoded` text the way Stripe does. Keys are percent-decoded
 * before their brackets are split, because stripe-node ≥22 sends `payload[value]` raw while older
 * SDKs and curl send `payload%5Bvalue%5D`.
 */
export function parseForm(text: string): FormObject {
  const root = emptyObject();
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : decode(pair.slice(eq + 1));
    assign(root, splitKey(key), value, key);
  }
  return root;
}

/** Null prototype, so a key like `__proto__` is plain data. */
export function emptyObject(): FormObject {
  return Object.create(null) as FormObject;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, " "));
  } catch {
    throw badRequest(`Invalid form encoding: ${part}`);
  }
}

/** `payload[a][b]` → `["payload", "a", "b"]`; `expand[]` → `["expand", ""]`. */
function splitKey(key: string): string[] {
  const open = key.indexOf("[");
  if (open < 0) return [key];
  const head = key.slice(0, open);
  const rest = key.slice(open);
  const segments = [...rest.matchAll(/\[([^[\]]*)\]/g)].map((m) => m[1] ?? "");
  const rebuilt = segments.map((s) => `[${s}]`).join("");
  if (head === "" || rebuilt !== rest) throw badRequest(`Invalid parameter name: ${key}`);
  return [head, ...segments];
}

function assign(target: FormObject | FormValue[], path: string[], value: string, fullKey: string): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const slot = Array.isArray(target) ? (head === "" ? target.length : Number(head)) : head;
  if (Array.isArray(target) && (!Number.isInteger(slot) || (slot as number) < 0)) {
    throw badRequest(`Invalid array index in parameter ${fullKey}`);
  }
  const container = target as Record<string | number, FormValue>;
  if (rest.length === 0) {
    container[slot] = value;
    return;
  }
  const wantsList = rest[0] === "" || /^\d+$/.test(rest[0] ?? "");
  let child = container[slot];
  if (child === undefined) {
    child = wantsList ? [] : emptyObject();
    container[slot] = child;
  }
  if (typeof child === "string" || Array.isArray(child) !== wantsList) {
    throw badRequest(`Conflicting values for parameter ${fullKey}`);
  }
  assign(child, rest, value, fullKey);
}
