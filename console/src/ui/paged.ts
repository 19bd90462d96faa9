import { useState } from "preact/hooks";
import { call, type Query } from "../api.js";
import type { Page } from "../types.js";
import { type Loaded, useLoad } from "./use-load.js";

/** A cursor-paged list: the first page when `query` changes, then `more()` appends the next. */
export function usePaged<T>(
  path: string | null,
  query: Query,
): {
  loaded: Loaded<T[]>;
  more: (() => Promise<void>) | null;
  reload: () => void;
} {
  const [next, setNext] = useState<string | null>(null);
  const [extra, setExtra] = useState<T[]>([]);
  const [loaded, reload] = useLoad(async () => {
    setExtra([]);
    if (path === null) return [];
    const page = await call<Page<T>>("GET", path, { query });
    setNext(page.next_cursor);
    return page.data;
  }, [path, JSON.stringify(query)]);
  const more =
    next && path !== null
      ? async () => {
          const page = await call<Page<T>>("GET", path, { query: { ...query, cursor: next } });
          setExtra((rows) => [...rows, ...page.data]);
          setNext(page.next_cursor);
        }
      : null;
  const all: Loaded<T[]> =
    loaded.state === "ready" ? { state: "ready", data: [...loaded.data, ...extra] } : loaded;
  return { loaded: all, more, reload };
}
