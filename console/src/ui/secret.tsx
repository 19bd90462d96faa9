import { useState } from "preact/hooks";

/** A secret the API shows once: a clear warning, the value, and a copy button. */
export function SecretOnce({ label, secret }: { label: string; secret: string }) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  };
  return (
    <div class="secret">
      <p class="warning" role="alert">
        <strong>Copy this secret now.</strong> It is shown this once and cannot be read again; if it is lost,
        rotate the key.
      </p>
      <label for="secret-value">{label}</label>
      <div class="secret-row">
        <input
          id="secret-value"
          readOnly
          value={secret}
          spellcheck={false}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={copy}>
          Copy
        </button>
      </div>
      <p role="status" class="hint">
        {copied === "yes" && "Copied to the clipboard."}
        {copied === "failed" && "The browser refused the clipboard: select the secret and copy it by hand."}
      </p>
    </div>
  );
}
