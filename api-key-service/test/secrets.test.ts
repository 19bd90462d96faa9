import { hashKey } from "../src/keys/key-format.js";
import { ADMIN_TOKEN, describe, expect, test } from "./fixtures.js";

describe("secrets", () => {
  test("no table holds an issued secret, and logs hold no secret, hash or admin token", async ({ api }) => {
    const secrets: string[] = [];
    const first = await api.createKey({ user_id: "erin", metadata: { note: "n" } });
    secrets.push(first.key);
    const rotated = await api.request("POST", `/api/keys/by-id/${first.id}/rotate`);
    secrets.push(rotated.body.key);
    for (let i = 0; i < 3; i++) secrets.push((await api.createKey({ user_id: "erin" })).key);
    await api.request("DELETE", `/api/keys/${first.id}`);
    await api.request("GET", "/api/keys/erin", { token: "wrong-token-that-is-quite-long-0000000000" });

    const tables = await api.query(
      "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(["api_keys", "users", "audit_events"]),
    );
    let dump = "";
    for (const { table_name } of tables) {
      const rows = await api.query(`select row_to_json(t)::text as row from "${table_name}" t`);
      dump += rows.map((r) => r.row).join("\n");
    }
    expect(dump.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      // Neither the key nor its random part (without prefix and checksum) is stored anywhere.
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(3, 35));
    }
    // What is stored is the hash, which is what lookups use.
    expect(dump).toContain(hashKey(secrets[1] as string));

    const logs = api.logs.join("");
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(hashKey(secret));
    }
    expect(logs).not.toContain(ADMIN_TOKEN);
    expect(logs).not.toContain("wrong-token-that-is-quite-long");
  });

  test("a listing never shows a secret again", async ({ api }) => {
    const key = await api.createKey({ user_id: "frank" });
    const listed = await api.request("GET", "/api/keys/frank");
    expect(listed.text).not.toContain(key.key);
    expect(listed.text).not.toContain(hashKey(key.key));
    expect(listed.body.data[0].start).toBe(key.key.slice(0, 9));
  });
});
