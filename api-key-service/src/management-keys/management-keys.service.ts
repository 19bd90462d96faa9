import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import type { Scope } from "../access/scopes.js";
import { insertAuditEvent } from "../audit/audit.repository.js";
import { AppError } from "../errors.js";
import { newId } from "../ids.js";
import { hashKey, type KeyFormat } from "../keys/key-format.js";
import { createdPosition, decodeCreatedCursor, type Page, toPage } from "../pagination.js";
import type { RequestContext } from "../request-context.js";
import { type ManagementKeyView, toManagementKeyView } from "./management-key-view.js";
import {
  findManagementKeyById,
  insertManagementKey,
  listManagementKeys,
  revokeManagementKey,
} from "./management-keys.repository.js";

export interface CreateManagementKeyInput {
  name: string;
  scopes: Scope[];
  user_id?: string | null;
  /** Relative expiry; null or absent means never. */
  expires_in_ms?: number | null;
}

/** Told after a change commits, so every replica stops honouring a revoked key at once. */
export interface ManagementKeyListener {
  managementKeyChanged(id: string): void;
}

export const MANAGEMENT_KEY_ID = /^mk_[0-9A-Za-z]{22}$/;

export class ManagementKeyService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly format: KeyFormat,
    private readonly changes: ManagementKeyListener,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(
    input: CreateManagementKeyInput,
    ctx: RequestContext,
  ): Promise<ManagementKeyView & { key: string }> {
    if (input.user_id && input.scopes.includes("admin")) {
      throw AppError.invalid("scopes", "admin cannot be given to a key bound to one user");
    }
    const now = this.now();
    const secret = this.format.generate();
    const row = await this.db.transaction().execute(async (trx) => {
      const inserted = await insertManagementKey(trx, {
        id: newId("mk"),
        name: input.name,
        key_hash: hashKey(secret),
        key_start: this.format.displayStart(secret),
        scopes: input.scopes,
        user_id: input.user_id ?? null,
        expires_at: input.expires_in_ms ? new Date(now.getTime() + input.expires_in_ms) : null,
        revoked_at: null,
        created_by: JSON.stringify(ctx.actor),
        created_at: now,
        updated_at: now,
      });
      await insertAuditEvent(trx, ctx, {
        action: "management_key.created",
        management_key_id: inserted.id,
        user_id: inserted.user_id,
        changes: {
          name: inserted.name,
          scopes: inserted.scopes,
          user_id: inserted.user_id,
          expires_at: inserted.expires_at,
        },
      });
      return inserted;
    });
    return { ...toManagementKeyView(row, now), key: secret };
  }

  async list(limit: number, cursor?: string): Promise<Page<ManagementKeyView>> {
    const after = cursor ? decodeCreatedCursor(cursor, MANAGEMENT_KEY_ID) : undefined;
    const rows = await listManagementKeys(this.db, limit + 1, after);
    const now = this.now();
    return toPage(rows, limit, (row) => toManagementKeyView(row, now), createdPosition);
  }

  async get(id: string): Promise<ManagementKeyView> {
    const row = await findManagementKeyById(this.db, id);
    if (!row) throw AppError.notFound("management key");
    return toManagementKeyView(row, this.now());
  }

  /** Idempotent: revoking a revoked key answers it as it is and records nothing new. */
  async revoke(id: string, ctx: RequestContext): Promise<ManagementKeyView> {
    const now = this.now();
    const row = await this.db.transaction().execute(async (trx) => {
      const current = await findManagementKeyById(trx, id, { forUpdate: true });
      if (!current) throw AppError.notFound("management key");
      if (current.revoked_at) return current;
      const revoked = await revokeManagementKey(trx, id, now);
      await insertAuditEvent(trx, ctx, {
        action: "management_key.revoked",
        management_key_id: id,
        user_id: revoked.user_id,
        changes: {},
      });
      return revoked;
    });
    this.changes.managementKeyChanged(id);
    return toManagementKeyView(row, now);
  }
}
