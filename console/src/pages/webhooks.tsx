import { useState } from "preact/hooks";
import { useCan } from "../access.js";
import { call } from "../api.js";
import type { Webhook, WebhookDelivery } from "../types.js";
import { Dialog } from "../ui/dialog.js";
import { Field, text, useSubmit } from "../ui/form.js";
import { MoreButton } from "../ui/more.js";
import { usePaged } from "../ui/paged.js";
import { SecretOnce } from "../ui/secret.js";
import { DataTable, ListStates, TableWrap } from "../ui/states.js";
import { Time } from "../ui/time.js";

const EVENTS = ["key.created", "key.rotated", "key.revoked", "quota.threshold"] as const;

export function WebhooksPage(_: { params: URLSearchParams }) {
  const can = useCan();
  const [creating, setCreating] = useState(false);
  const [selected, setSelected] = useState<Webhook | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const { loaded, more, reload } = usePaged<Webhook>("/api/webhooks", { limit: 50 });
  const deleted = () => {
    if (selected?.id === deleting?.id) setSelected(null);
    reload();
  };
  return (
    <section aria-labelledby="webhooks-title">
      <div class="page-head">
        <h1 id="webhooks-title">Webhooks</h1>
        {can("webhooks:write") && (
          <button type="button" onClick={() => setCreating(true)}>
            Register webhook
          </button>
        )}
      </div>
      <ListStates loaded={loaded} what="webhooks" retry={reload} empty="No webhook is registered.">
        {(rows) => (
          <DataTable label="Webhooks" columns={["URL", "Events", "User", "Created", "Actions"]}>
            {rows.map((hook) => (
              <tr key={hook.id} class={selected?.id === hook.id ? "selected" : undefined}>
                <th scope="row">
                  <code>{hook.url}</code>
                </th>
                <td>{hook.events.join(", ")}</td>
                <td>{hook.user_id ?? "all users"}</td>
                <td>
                  <Time iso={hook.created_at} />
                </td>
                <td class="actions">
                  <button
                    type="button"
                    onClick={() => setSelected(hook)}
                    aria-label={`Deliveries to ${hook.url}`}
                  >
                    Deliveries
                  </button>
                  {can("webhooks:write") && (
                    <button
                      type="button"
                      class="danger"
                      onClick={() => setDeleting(hook)}
                      aria-label={`Delete webhook to ${hook.url}`}
                    >
                      Delete
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </ListStates>
      <MoreButton more={more} />
      {selected && <Deliveries key={selected.id} hook={selected} />}
      {creating && <RegisterDialog onClose={() => setCreating(false)} onDone={reload} />}
      {deleting && <DeleteDialog hook={deleting} onClose={() => setDeleting(null)} onDone={deleted} />}
    </section>
  );
}

function Deliveries({ hook }: { hook: Webhook }) {
  const [status, setStatus] = useState("");
  const { loaded, more, reload } = usePaged<WebhookDelivery>(`/api/webhooks/${hook.id}/deliveries`, {
    status,
    limit: 50,
  });
  return (
    <section aria-labelledby="deliveries-title" class="sub">
      <h2 id="deliveries-title">Deliveries to {hook.url}</h2>
      <button type="button" class="plain" onClick={reload}>
        Refresh
      </button>{" "}
      <label class="inline">
        Status{" "}
        <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          <option value="">Any</option>
          <option value="pending">pending (retrying)</option>
          <option value="delivered">delivered</option>
          <option value="dead">dead (gave up)</option>
        </select>
      </label>
      <ListStates loaded={loaded} what="deliveries" retry={reload} empty="No delivery yet.">
        {(rows) => (
          <TableWrap label="Deliveries">
            <table aria-labelledby="deliveries-title">
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Last answer</th>
                  <th scope="col">Next attempt</th>
                  <th scope="col">Delivered</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((d) => (
                  <tr key={d.id}>
                    <th scope="row">
                      {d.event_type} <code>{d.event_id}</code>
                    </th>
                    <td>
                      <span class={`badge ${d.status}`}>{d.status}</span>
                    </td>
                    <td>{d.attempts}</td>
                    <td>{[d.last_status_code, d.last_error].filter((v) => v !== null).join(" · ") || "—"}</td>
                    <td>
                      <Time iso={d.next_attempt_at} />
                    </td>
                    <td>
                      <Time iso={d.delivered_at} />
                    </td>
                    <td>
                      <Time iso={d.created_at} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </ListStates>
      <MoreButton more={more} />
    </section>
  );
}

function RegisterDialog({ onClose, onDone }: { onClose: () => void; onDone: () => void }) {
  const [secret, setSecret] = useState<string | null>(null);
  const { busy, onSubmit, alert } = useSubmit(async (form) => {
    const user = text(form, "user_id");
    const created = await call<Webhook & { secret: string }>("POST", "/api/webhooks", {
      body: {
        url: text(form, "url"),
        events: form.getAll("events").map(String),
        ...(user ? { user_id: user } : {}),
      },
    });
    setSecret(created.secret);
    onDone();
  });
  if (secret) {
    return (
      <Dialog title="Webhook registered" onClose={onClose}>
        <SecretOnce label="Signing secret" secret={secret} />
      </Dialog>
    );
  }
  return (
    <Dialog title="Register a webhook" onClose={onClose}>
      <form onSubmit={onSubmit}>
        <Field id="hook-url" label="URL" hint="https://…; its host must resolve to public addresses.">
          <input id="hook-url" name="url" type="url" required aria-describedby="hook-url-hint" />
        </Field>
        <fieldset>
          <legend>Events</legend>
          {EVENTS.map((e) => (
            <label key={e} class="check">
              <input type="checkbox" name="events" value={e} defaultChecked /> {e}
            </label>
          ))}
        </fieldset>
        <Field id="hook-user" label="Only for user" hint="Empty: every user's events.">
          <input id="hook-user" name="user_id" aria-describedby="hook-user-hint" />
        </Field>
        {alert}
        <button type="submit" disabled={busy}>
          Register
        </button>
      </form>
    </Dialog>
  );
}

function DeleteDialog({ hook, onClose, onDone }: { hook: Webhook; onClose: () => void; onDone: () => void }) {
  const { busy, onSubmit, alert } = useSubmit(async () => {
    await call("DELETE", `/api/webhooks/${hook.id}`);
    onDone();
    onClose();
  });
  return (
    <Dialog title="Delete webhook" onClose={onClose}>
      <form onSubmit={onSubmit}>
        <p>
          Nothing more is sent to <code>{hook.url}</code>, and its pending deliveries are dropped.
        </p>
        {alert}
        <button type="submit" class="danger" disabled={busy}>
          Delete webhook
        </button>
      </form>
    </Dialog>
  );
}
