import { useState } from "preact/hooks";
import { call } from "../api.js";
import type { Key, KeyWithSecret } from "../types.js";
import { Dialog } from "../ui/dialog.js";
import { Field, limit, list, text, useSubmit } from "../ui/form.js";
import { SecretOnce } from "../ui/secret.js";

const EXPIRY_CHOICES = [
  ["never", "Never"],
  ["30d", "In 30 days"],
  ["90d", "In 90 days"],
  ["1y", "In a year"],
] as const;

/** Creates a key, then shows its secret once. */
export function CreateKeyDialog({
  userId,
  onClose,
  onDone,
}: {
  userId: string;
  onClose: () => void;
  onDone: () => void;
}) {
  const [created, setCreated] = useState<KeyWithSecret | null>(null);
  const { busy, onSubmit, alert } = useSubmit(async (form) => {
    const key = await call<KeyWithSecret>("POST", "/api/keys", {
      body: {
        user_id: text(form, "user_id"),
        name: text(form, "name"),
        scopes: list(text(form, "scopes")),
        rate_limit_per_minute: limit(form, "per_minute"),
        rate_limit_per_day: limit(form, "per_day"),
        expires_in: text(form, "expires_in"),
      },
    });
    setCreated(key);
    onDone();
  });
  if (created) {
    return (
      <Dialog title="Key created" onClose={onClose}>
        <p>
          <strong>{created.name}</strong> for {created.user_id} ({created.id})
        </p>
        <SecretOnce label="Secret" secret={created.key} />
        <Done />
      </Dialog>
    );
  }
  return (
    <Dialog title="Create a key" onClose={onClose}>
      <form onSubmit={onSubmit}>
        <Field id="new-user" label="User id">
          <input id="new-user" name="user_id" required defaultValue={userId} />
        </Field>
        <Field id="new-name" label="Name">
          <input id="new-name" name="name" required />
        </Field>
        <Field id="new-scopes" label="Scopes" hint="Separated by spaces or commas; may be empty.">
          <input id="new-scopes" name="scopes" aria-describedby="new-scopes-hint" />
        </Field>
        <LimitFields prefix="new" />
        <Field id="new-expiry" label="Expires">
          <select id="new-expiry" name="expires_in">
            {EXPIRY_CHOICES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        {alert}
        <button type="submit" disabled={busy}>
          Create key
        </button>
      </form>
    </Dialog>
  );
}

function LimitFields({ prefix, record }: { prefix: string; record?: Key }) {
  return (
    <>
      <Field id={`${prefix}-per-minute`} label="Requests per minute" hint="Empty: the plan's or the default.">
        <input
          id={`${prefix}-per-minute`}
          name="per_minute"
          type="number"
          min={1}
          defaultValue={record?.rate_limit_per_minute ?? ""}
          aria-describedby={`${prefix}-per-minute-hint`}
        />
      </Field>
      <Field id={`${prefix}-per-day`} label="Requests per day" hint="Empty: the plan's or the default.">
        <input
          id={`${prefix}-per-day`}
          name="per_day"
          type="number"
          min={1}
          defaultValue={record?.rate_limit_per_day ?? ""}
          aria-describedby={`${prefix}-per-day-hint`}
        />
      </Field>
    </>
  );
}

function Done() {
  return (
    <button type="button" onClick={(e) => (e.currentTarget.closest("dialog") as HTMLDialogElement).close()}>
      I have stored the secret
    </button>
  );
}

/** Changes name, limits, scopes and expiry. */
export function EditKeyDialog({
  record,
  onClose,
  onDone,
}: {
  record: Key;
  onClose: () => void;
  onDone: () => void;
}) {
  const { busy, onSubmit, alert } = useSubmit(async (form) => {
    const expiry = text(form, "expires_in");
    await call<Key>("PATCH", `/api/keys/by-id/${record.id}`, {
      body: {
        name: text(form, "name"),
        scopes: list(text(form, "scopes")),
        rate_limit_per_minute: limit(form, "per_minute"),
        rate_limit_per_day: limit(form, "per_day"),
        ...(expiry === "keep" ? {} : { expires_in: expiry }),
      },
    });
    onDone();
    onClose();
  });
  return (
    <Dialog title={`Edit ${record.name}`} onClose={onClose}>
      <form onSubmit={onSubmit}>
        <Field id="edit-name" label="Name">
          <input id="edit-name" name="name" required defaultValue={record.name} />
        </Field>
        <Field id="edit-scopes" label="Scopes" hint="Separated by spaces or commas.">
          <input
            id="edit-scopes"
            name="scopes"
            defaultValue={record.scopes.join(" ")}
            aria-describedby="edit-scopes-hint"
          />
        </Field>
        <LimitFields prefix="edit" record={record} />
        <Field id="edit-expiry" label="Expiry">
          <select id="edit-expiry" name="expires_in">
            <option value="keep">Keep as it is</option>
            {EXPIRY_CHOICES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        {alert}
        <button type="submit" disabled={busy}>
          Save
        </button>
      </form>
    </Dialog>
  );
}

const GRACE_CHOICES = [
  ["0s", "None: the old secret stops now"],
  ["1h", "1 hour"],
  ["24h", "24 hours"],
  ["7d", "7 days"],
] as const;

/** Issues a new secret; the old one works for the grace period. */
export function RotateKeyDialog({
  record,
  onClose,
  onDone,
}: {
  record: Key;
  onClose: () => void;
  onDone: () => void;
}) {
  const [rotated, setRotated] = useState<KeyWithSecret | null>(null);
  const { busy, onSubmit, alert } = useSubmit(async (form) => {
    setRotated(
      await call<KeyWithSecret>("POST", `/api/keys/by-id/${record.id}/rotate`, {
        body: { grace_period: text(form, "grace") },
      }),
    );
    onDone();
  });
  if (rotated) {
    return (
      <Dialog title="Key rotated" onClose={onClose}>
        <SecretOnce label="New secret" secret={rotated.key} />
        <Done />
      </Dialog>
    );
  }
  return (
    <Dialog title={`Rotate ${record.name}`} onClose={onClose}>
      <form onSubmit={onSubmit}>
        <Field id="grace" label="The old secret keeps working for">
          <select id="grace" name="grace">
            {GRACE_CHOICES.map(([value, label]) => (
              <option key={value} value={value} selected={value === "24h"}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        {alert}
        <button type="submit" disabled={busy}>
          Rotate
        </button>
      </form>
    </Dialog>
  );
}

export function RevokeKeyDialog({
  record,
  onClose,
  onDone,
}: {
  record: Key;
  onClose: () => void;
  onDone: () => void;
}) {
  const { busy, onSubmit, alert } = useSubmit(async () => {
    await call<Key>("DELETE", `/api/keys/${record.id}`);
    onDone();
    onClose();
  });
  return (
    <Dialog title={`Revoke ${record.name}`} onClose={onClose}>
      <form onSubmit={onSubmit}>
        <p>
          Every request with this key is refused from now on, on every replica. A revoked key cannot be
          brought back.
        </p>
        {alert}
        <button type="submit" class="danger" disabled={busy}>
          Revoke key
        </button>
      </form>
    </Dialog>
  );
}
