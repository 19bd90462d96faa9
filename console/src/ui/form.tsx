import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { describeError } from "../api.js";

/** A labelled field; the input is the child, with `id`. */
export function Field({
  id,
  label,
  hint,
  children,
}: {
  id: string;
  label: string;
  hint?: string;
  children: ComponentChildren;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <span class="hint" id={`${id}-hint`}>
          {hint}
        </span>
      )}
    </div>
  );
}

/** A form that sends once at a time and shows the API's refusal (field by field) in an alert. */
export function useSubmit(send: (form: FormData) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await send(new FormData(event.currentTarget as HTMLFormElement));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const alert = error ? (
    <p class="state error" role="alert">
      {describeError(error)}
    </p>
  ) : null;
  return { busy, onSubmit, alert };
}

export const text = (form: FormData, name: string) => String(form.get(name) ?? "").trim();

/** Empty: null (the default applies); else the number typed, which the API checks. */
export const limit = (form: FormData, name: string): number | null => {
  const value = text(form, name);
  return value === "" ? null : Number(value);
};

export const list = (value: string): string[] => value.split(/[\s,]+/).filter(Boolean);

export const formatNumber = (n: number | null, none = "default") =>
  n === null ? none : new Intl.NumberFormat().format(n);
