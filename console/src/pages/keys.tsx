import { useState } from "preact/hooks";
import { useCan } from "../access.js";
import { call } from "../api.js";
import { KEY_STATUSES, type Key } from "../types.js";
import { formatNumber } from "../ui/form.js";
import { MoreButton } from "../ui/more.js";
import { usePaged } from "../ui/paged.js";
import { DataTable, ErrorNote, ListStates } from "../ui/states.js";
import { Time } from "../ui/time.js";
import { CreateKeyDialog, EditKeyDialog, RevokeKeyDialog, RotateKeyDialog } from "./key-dialogs.js";

type Open = { kind: "create" } | { kind: "edit" | "rotate" | "revoke"; key: Key } | null;

export function KeysPage({ params }: { params: URLSearchParams }) {
  const can = useCan();
  const [filter, setFilter] = useState({
    q: params.get("q") ?? "",
    user_id: params.get("user_id") ?? "",
    status: params.get("status") ?? "",
    created_after: "",
  });
  const [open, setOpen] = useState<Open>(null);
  const query = {
    ...filter,
    created_after: filter.created_after ? new Date(filter.created_after).toISOString() : "",
    limit: 20,
  };
  const { loaded, more, reload } = usePaged<Key>("/api/keys", query);

  const apply = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setFilter({
      q: String(form.get("q") ?? "").trim(),
      user_id: String(form.get("user_id") ?? "").trim(),
      status: String(form.get("status") ?? ""),
      created_after: String(form.get("created_after") ?? ""),
    });
  };
  const close = () => setOpen(null);

  return (
    <section aria-labelledby="keys-title">
      <div class="page-head">
        <h1 id="keys-title">Keys</h1>
        {can("keys:write") && (
          <button type="button" onClick={() => setOpen({ kind: "create" })}>
            Create key
          </button>
        )}
      </div>
      <form class="filters" onSubmit={apply} aria-label="Filter keys">
        <label>
          Name or start
          <input name="q" type="search" defaultValue={filter.q} />
        </label>
        <label>
          User id
          <input name="user_id" defaultValue={filter.user_id} />
        </label>
        <label>
          Status
          <select name="status">
            <option value="">Any</option>
            {KEY_STATUSES.map((s) => (
              <option key={s} value={s} selected={s === filter.status}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Created after
          <input name="created_after" type="date" defaultValue={filter.created_after} />
        </label>
        <button type="submit">Search</button>
      </form>
      <ListStates loaded={loaded} what="keys" retry={reload} empty="No key matches these filters.">
        {(rows) => (
          <DataTable
            label="Keys"
            columns={[
              "Name",
              "User",
              "Start",
              "Status",
              "Scopes",
              "Per minute / day",
              "Expires",
              "Last used",
              "Created",
              can("keys:write") && "Actions",
            ]}
          >
            {rows.map((key) => (
              <KeyRow key={key.id} record={key} setOpen={setOpen} reload={reload} />
            ))}
          </DataTable>
        )}
      </ListStates>
      <MoreButton more={more} />
      {open?.kind === "create" && <CreateKeyDialog userId={filter.user_id} onClose={close} onDone={reload} />}
      {open?.kind === "edit" && <EditKeyDialog record={open.key} onClose={close} onDone={reload} />}
      {open?.kind === "rotate" && <RotateKeyDialog record={open.key} onClose={close} onDone={reload} />}
      {open?.kind === "revoke" && <RevokeKeyDialog record={open.key} onClose={close} onDone={reload} />}
    </section>
  );
}

function KeyRow({
  record,
  setOpen,
  reload,
}: {
  record: Key;
  setOpen: (o: Open) => void;
  reload: () => void;
}) {
  const can = useCan();
  const [error, setError] = useState<unknown>(null);
  const live = record.status !== "revoked";
  const toggle = async () => {
    try {
      await call<Key>("PATCH", `/api/keys/by-id/${record.id}`, { body: { enabled: !record.enabled } });
      reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <tr data-key-id={record.id}>
      <th scope="row">{record.name}</th>
      <td>{record.user_id}</td>
      <td>
        <code>{record.start}…</code>
      </td>
      <td>
        <span class={`badge ${record.status}`}>{record.status}</span>
        {record.status !== "revoked" &&
          record.previous_key_expires_at &&
          Date.parse(record.previous_key_expires_at) > Date.now() && (
            <span class="hint block">
              old secret until <Time iso={record.previous_key_expires_at} />
            </span>
          )}
      </td>
      <td>{record.scopes.length ? record.scopes.join(", ") : "—"}</td>
      <td>
        {formatNumber(record.rate_limit_per_minute)} / {formatNumber(record.rate_limit_per_day)}
      </td>
      <td>
        <Time iso={record.expires_at} empty="never" />
      </td>
      <td>
        <Time iso={record.last_used_at} empty="never" />
      </td>
      <td>
        <Time iso={record.created_at} />
      </td>
      {can("keys:write") && (
        <td class="actions">
          {live && (
            <>
              <button
                type="button"
                onClick={() => setOpen({ kind: "edit", key: record })}
                aria-label={`Edit ${record.name}`}
              >
                Edit
              </button>
              <button
                type="button"
                onClick={() => setOpen({ kind: "rotate", key: record })}
                aria-label={`Rotate ${record.name}`}
              >
                Rotate
              </button>
              <button
                type="button"
                onClick={toggle}
                aria-label={`${record.enabled ? "Disable" : "Enable"} ${record.name}`}
              >
                {record.enabled ? "Disable" : "Enable"}
              </button>
              <button
                type="button"
                class="danger"
                onClick={() => setOpen({ kind: "revoke", key: record })}
                aria-label={`Revoke ${record.name}`}
              >
                Revoke
              </button>
            </>
          )}
          {error ? <ErrorNote error={error} /> : null}
        </td>
      )}
    </tr>
  );
}
