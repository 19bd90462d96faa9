import type { ComponentChildren } from "preact";
import { describeError } from "../api.js";
import type { Loaded } from "./use-load.js";

export function Loading({ what }: { what: string }) {
  return (
    <p class="state" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="state empty">{children}</p>;
}

export function ErrorNote({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div class="state error" role="alert">
      <p>{describeError(error)}</p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A table that scrolls sideways on a narrow screen, reachable by keyboard. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be focusable to scroll by keyboard
    <section class="table-wrap" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}

/** A labelled, scrollable table: a heading per column (false leaves one out), then `children` as its rows. */
export function DataTable(props: {
  label: string;
  columns: (string | false)[];
  children: ComponentChildren;
}) {
  return (
    <TableWrap label={props.label}>
      <table>
        <thead>
          <tr>
            {props.columns
              .filter((column) => column !== false)
              .map((column) => (
                <th scope="col" key={column}>
                  {column}
                </th>
              ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </TableWrap>
  );
}

/**
 * A list's four states in one place: loading, an error with a retry, the empty note, and `children`
 * with the rows once there are some.
 */
export function ListStates<T>(props: {
  loaded: Loaded<T[]>;
  what: string;
  empty: ComponentChildren;
  retry?: () => void;
  children: (rows: T[]) => ComponentChildren;
}) {
  const { loaded } = props;
  if (loaded.state === "loading") return <Loading what={props.what} />;
  if (loaded.state === "error") return <ErrorNote error={loaded.error} retry={props.retry} />;
  if (loaded.data.length === 0) return <Empty>{props.empty}</Empty>;
  return <>{props.children(loaded.data)}</>;
}
