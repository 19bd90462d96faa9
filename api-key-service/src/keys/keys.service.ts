import type { ApiKeyRow, ApiKeyUpdate, Database } from "@gateway/db";
import type { Kysely } from "kysely";
import { insertAuditEvent } from "../audit/audit.repository.js";
import { type CustomerDirectory, formatOnly, requireLiveCustomer } from "../billing/customer-directory.js";
import { AppError } from "../errors.js";
import { newId } from "../ids.js";
import { createdPosition, decodeCreatedCursor, type Page, toPage } from "../pagination.js";
import type { RequestContext } from "../request-context.js";
import { ensureUser } from "../users/users.repository.js";
import { keyEventData } from "../webhooks/event-types.js";
import { enqueueEvent } from "../webhooks/webhook-events.repository.js";
import { hashKey, type KeyFormat } from "./key-format.js";
import { type KeyView, toKeyView } from "./key-view.js";
import { findKeyById, insertKey, listKeysByUser, updateKey } from "./keys.repository.js";

export interface KeySettings {
  /** Default grace period during which a rotated-out secret still works. */
  rotationGraceMs: number;
  /** Where a key's own Stripe customer is checked before it is stored; default: its format only. */
  customers?: CustomerDirectory;
}

interface Expiry {
  expires_at?: Date | null;
  /** Relative expiry; null means never. */
  expires_in_ms?: number | null;
}

export interface CreateKeyInput extends Expiry {
  user_id: string;
  name: string;
  rate_limit_per_minute?: number | null;
  rate_limit_per_day?: number | null;
  scopes?: string[];
  metadata?: Record<string, unknown>;
  stripe_customer_id?: string | null;
}

export interface UpdateKeyInput extends Expiry {
  name?: string;
  rate_limit_per_minute?: number | null;
  rate_limit_per_day?: number | null;
  scopes?: string[];
  metadata?: Record<string, unknown>;
  stripe_customer_id?: string | null;
  enabled?: boolean;
}

/** Optional guard: act only if the key belongs to this user, as a developer portal would ask. */
export interface Owner {
  userId?: string | undefined;
}

/** Told after a change commits, so every replica's key cache can drop what it holds. */
export interface ChangeListener {
  keyChanged(keyId: string): void;
  userChanged(userId: string): void;
}

/** The ids a key cursor may hold (a little wider than issued ids, as earlier cursors were). */
export const KEY_CURSOR_ID = /^key_[0-9A-Za-z]{1,64}$/;

export const ignoreChanges: ChangeListener = { keyChanged: () => {}, userChanged: () => {} };

/** A key view plus its secret: returned at creation and rotation only. */
export type KeyWithSecret = KeyView & { key: string };

const EDITABLE = [
  "name",
  "rate_limit_per_minute",
  "rate_limit_per_day",
  "scopes",
  "metadata",
  "stripe_customer_id",
  "enabled",
  "expires_at",
] as const;

export class KeyService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly format: KeyFormat,
    private readonly settings: KeySettings,
    private readonly changes: ChangeListener = ignoreChanges,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(input: CreateKeyInput, ctx: RequestContext): Promise<KeyWithSecret> {
    const now = this.now();
    const expiresAt = this.resolveExpiry(input, now);
    // Asked before the transaction: no transaction waits on Stripe.
    if (input.stripe_customer_id) await this.requireCustomer(input.stripe_customer_id);
    const secret = this.format.generate();
    const row = await this.db.transaction().execute(async (trx) => {
      await ensureUser(trx, input.user_id);
      const inserted = await insertKey(trx, {
        id: newId("key"),
        user_id: input.user_id,
        name: input.name,
        key_hash: hashKey(secret),
        key_start: this.format.displayStart(secret),
        previous_key_hash: null,
        previous_key_expires_at: null,
        rotated_at: null,
        scopes: input.scopes ?? [],
        rate_limit_per_minute: input.rate_limit_per_minute ?? null,
        rate_limit_per_day: input.rate_limit_per_day ?? null,
        metadata: JSON.stringify(input.metadata ?? {}),
        stripe_customer_id: input.stripe_customer_id ?? null,
        expires_at: expiresAt ?? null,
        revoked_at: null,
        created_at: now,
        updated_at: now,
        last_used_at: null,
        created_by: JSON.stringify(ctx.actor),
      });
      const { key_hash, key_start, previous_key_hash, ...recorded } = inserted;
      await this.audit(trx, "key.created", inserted, ctx, recorded);
      await enqueueEvent(trx, { type: "key.created", data: keyEventData(inserted, now) });
      return inserted;
    });
    this.changes.keyChanged(row.id);
    return { ...toKeyView(row, now), key: secret };
  }

  async list(userId: string, limit: number, cursor?: string): Promise<Page<KeyView>> {
    const position = cursor ? decodeCreatedCursor(cursor, KEY_CURSOR_ID) : undefined;
    const rows = await listKeysByUser(this.db, userId, limit + 1, position);
    const now = this.now();
    return toPage(rows, limit, (row) => toKeyView(row, now), createdPosition);
  }

  async get(id: string, owner: Owner = {}): Promise<KeyView> {
    const row = await findKeyById(this.db, id);
    return toKeyView(ownedOrNotFound(row, owner), this.now());
  }

  async update(id: string, input: UpdateKeyInput, ctx: RequestContext, owner: Owner = {}): Promise<KeyView> {
    const now = this.now();
    const customer = input.stripe_customer_id;
    if (customer) {
      // Only a customer the key does not have yet is asked about; an unknown, foreign or revoked key
      // is refused by the transaction below, as without a customer.
      const current = await findKeyById(this.db, id);
      const changes = current && !current.revoked_at && (owner.userId ?? current.user_id) === current.user_id;
      if (changes && current.stripe_customer_id !== customer) await this.requireCustomer(customer);
    }
    const row = await this.db.transaction().execute(async (trx) => {
      const current = ownedOrNotFound(await findKeyById(trx, id, { forUpdate: true }), owner);
      if (current.revoked_at) throw new AppError("CONFLICT", "a revoked key cannot be changed");
      const wanted: Record<string, unknown> = { ...input };
      delete wanted.expires_in_ms;
      const expiresAt = this.resolveExpiry(input, now);
      if (expiresAt !== undefined) wanted.expires_at = expiresAt;

      const changes: Record<string, { from: unknown; to: unknown }> = {};
      for (const field of EDITABLE) {
        if (!(field in wanted) || sameValue(current[field], wanted[field])) continue;
        changes[field] = { from: current[field], to: wanted[field] };
      }
      if (Object.keys(changes).length === 0) return current;

      const set: ApiKeyUpdate = { updated_at: now };
      for (const [field, change] of Object.entries(changes)) {
        (set as Record<string, unknown>)[field] =
          field === "metadata" ? JSON.stringify(change.to) : change.to;
      }
      const updated = await updateKey(trx, id, set);
      await this.audit(trx, "key.updated", updated, ctx, changes);
      return updated;
    });
    this.changes.keyChanged(row.id);
    return toKeyView(row, now);
  }

  async rotate(
    id: string,
    graceMs: number | undefined,
    ctx: RequestContext,
    owner: Owner = {},
  ): Promise<KeyWithSecret> {
    const now = this.now();
    const grace = graceMs ?? this.settings.rotationGraceMs;
    const secret = this.format.generate();
    const row = await this.db.transaction().execute(async (trx) => {
      const current = ownedOrNotFound(await findKeyById(trx, id, { forUpdate: true }), owner);
      if (current.revoked_at) throw new AppError("CONFLICT", "a revoked key cannot be rotated");
      const previousExpiresAt = grace > 0 ? new Date(now.getTime() + grace) : null;
      const updated = await updateKey(trx, id, {
        key_hash: hashKey(secret),
        key_start: this.format.displayStart(secret),
        // Rotating again ends the previous grace period at once: only one old secret is ever live.
        previous_key_hash: previousExpiresAt ? current.key_hash : null,
        previous_key_expires_at: previousExpiresAt,
        rotated_at: now,
        updated_at: now,
      });
      await this.audit(trx, "key.rotated", updated, ctx, {
        previous_key_expires_at: previousExpiresAt?.toISOString() ?? null,
      });
      await enqueueEvent(trx, { type: "key.rotated", data: keyEventData(updated, now) });
      return updated;
    });
    this.changes.keyChanged(row.id);
    return { ...toKeyView(row, now), key: secret };
  }

  /** Idempotent: revoking a revoked key answers the key as it is and records nothing new. */
  async revoke(id: string, ctx: RequestContext, owner: Owner = {}): Promise<KeyView> {
    const now = this.now();
    const row = await this.db.transaction().execute(async (trx) => {
      const current = ownedOrNotFound(await findKeyById(trx, id, { forUpdate: true }), owner);
      if (current.revoked_at) return current;
      const updated = await updateKey(trx, id, {
        revoked_at: now,
        previous_key_hash: null,
        previous_key_expires_at: null,
        updated_at: now,
      });
      await this.audit(trx, "key.revoked", updated, ctx, {});
      await enqueueEvent(trx, { type: "key.revoked", data: keyEventData(updated, now) });
      return updated;
    });
    this.changes.keyChanged(row.id);
    return toKeyView(row, now);
  }

  private requireCustomer(id: string): Promise<void> {
    return requireLiveCustomer(this.settings.customers ?? formatOnly, id);
  }

  private resolveExpiry(input: Expiry, now: Date): Date | null | undefined {
    if (input.expires_in_ms !== undefined) {
      return input.expires_in_ms === null ? null : new Date(now.getTime() + input.expires_in_ms);
    }
    if (input.expires_at && input.expires_at <= now) {
      throw AppError.invalid("expires_at", "must be in the future");
    }
    return input.expires_at;
  }

  private audit(
    trx: Parameters<typeof insertAuditEvent>[0],
    action: string,
    row: ApiKeyRow,
    ctx: RequestContext,
    changes: object,
  ) {
    return insertAuditEvent(trx, ctx, { action, key_id: row.id, user_id: row.user_id, changes });
  }
}

function ownedOrNotFound(row: ApiKeyRow | undefined, owner: Owner): ApiKeyRow {
  if (!row || (owner.userId !== undefined && row.user_id !== owner.userId)) throw AppError.notFound("key");
  return row;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) {
    return (a instanceof Date ? a.getTime() : a) === (b instanceof Date ? b.getTime() : b);
  }
  return JSON.stringify(a) === JSON.stringify(b);
}
