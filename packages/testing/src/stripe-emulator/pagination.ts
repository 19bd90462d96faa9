import { badRequest } from "./errors.js";
import type { FormParams } from "./params.js";

export interface ListPage<T> {
  data: T[];
  has_more: boolean;
}

/** Stripe's cursor pagination over a list already in display order (newest first). */
export function paginate<T extends { id: string }>(items: readonly T[], params: FormParams): ListPage<T> {
  const limit = params.integer("limit") ?? 10;
  if (limit < 1 || limit > 100) throw badRequest("Invalid limit: must be between 1 and 100", "limit");
  const after = params.string("starting_after");
  const before = params.string("ending_before");
  if (after !== undefined && before !== undefined) {
    throw badRequest("You may only specify one of these parameters: ending_before, starting_after.");
  }
  if (before !== undefined) {
    const end = indexOf(items, before, "ending_before");
    const start = Math.max(0, end - limit);
    return { data: items.slice(start, end), has_more: start > 0 };
  }
  const start = after === undefined ? 0 : indexOf(items, after, "starting_after") + 1;
  return { data: items.slice(start, start + limit), has_more: start + limit < items.length };
}

function indexOf<T extends { id: string }>(items: readonly T[], id: string, param: string): number {
  const index = items.findIndex((item) => item.id === id);
  if (index < 0) throw badRequest(`Invalid ${param}: no object with id ${id} in this list`, param);
  return index;
}

export const PAGINATION_PARAMS = ["limit", "starting_after", "ending_before", "expand"] as const;
