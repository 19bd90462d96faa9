import { useState } from "preact/hooks";
import type { Actor, AuditEvent } from "../types.js";
import { AUDIT_ACTIONS } from "../types.js";
import { MoreButton } from "../ui/more.js";
import { usePaged } from "../ui/paged.js";
import { DataTable, ListStates } from "../ui/states.js";
import { Time } from "../ui/time.js";

const actorText = (actor: Actor) => {
  switch (actor.type) {
    case "admin_token":
      return "admin token";
    case "management_key":
      return `${actor.name} (${actor.id})`;
    case "stripe_webhook":
      return `Stripe event ${actor.event_id}`;
  }
};

export function AuditPage({ params }: { params: URLSearchParams }) {
  const [filter, setFilter] = useState({
    actor_id: params.get("actor_id") ?? "",
    key_id: params.get("key_id") ?? "",
    user_id: params.get("user_id") ?? "",
    action: params.get("action") ?? "",
  });
  const { loaded, more, reload } = usePaged<AuditEvent>("/api/audit", { ...filter, limit: 50 });
  const apply = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const get = (name: string) => String(form.get(name) ?? "").trim();
    setFilter({
      actor_id: get("actor_id"),
      key_id: get("key_id"),
      user_id: get("user_id"),
      action: get("action"),
    });
  };
  return (
    <section aria-labelledby="audit-title">
      <div class="page-head">
        <h1 id="audit-title">Audit log</h1>
      </div>
      <form class="filters" onSubmit={apply} aria-label="Filter the audit log">
        <label>
          Actor
          <input name="actor_id" defaultValue={filter.actor_id} placeholder="admin_token, mk_…" />
        </label>
        <label>
          Key id
          <input name="key_id" defaultValue={filter.key_id} placeholder="key_…" />
        </label>
        <label>
          User id
          <input name="user_id" defaultValue={filter.user_id} />
        </label>
        <label>
          Action
          <select name="action">
            <option value="">Any</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a} selected={a === filter.action}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ListStates loaded={loaded} what="the audit log" retry={reload} empty="No event matches these filters.">
        {(rows) => (
          <DataTable label="Audit events" columns={["When", "Action", "Actor", "Key", "User", "Changes"]}>
            {rows.map((event) => (
              <tr key={event.id}>
                <td class="when">
                  <Time iso={event.occurred_at} />
                </td>
                <th scope="row">{event.action}</th>
                <td>{actorText(event.actor)}</td>
                <td>{event.key_id ? <code>{event.key_id}</code> : "—"}</td>
                <td>{event.user_id ?? "—"}</td>
                <td>
                  <code class="changes">{changesText(event.changes)}</code>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </ListStates>
      <MoreButton more={more} />
    </section>
  );
}

/** `field: from → to` for a change; for a record's snapshot (created), its set fields without timestamps. */
const changesText = (changes: Record<string, unknown>) =>
  Object.entries(changes)
    .flatMap(([field, value]) => {
      if (value !== null && typeof value === "object" && "to" in value) {
        const { from, to } = value as { from?: unknown; to: unknown };
        return [`${field}: ${JSON.stringify(from ?? null)} → ${JSON.stringify(to)}`];
      }
      const empty =
        value === null || (Array.isArray(value) && value.length === 0) || JSON.stringify(value) === "{}";
      if (
        empty ||
        field === "id" ||
        field === "created_by" ||
        (field.endsWith("_at") && !field.startsWith("previous"))
      ) {
        return [];
      }
      return [`${field}: ${JSON.stringify(value)}`];
    })
    .join("; ") || "—";
