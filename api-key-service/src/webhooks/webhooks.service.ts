import type { Database, DeliveryStatus, WebhookEventType, WebhookRow } from "@gateway/db";
import type { Kysely } from "kysely";
import { insertAuditEvent } from "../audit/audit.repository.js";
import { AppError } from "../errors.js";
import { newId } from "../ids.js";
import { createdPosition, decodeCreatedCursor, decodeCursor, type Page, toPage } from "../pagination.js";
import type { RequestContext } from "../request-context.js";
import { type AddressGuard, RefusedDestination } from "./address-guard.js";
import { newSigningSecret } from "./signing-secret.js";
import { type DeliveryView, toDeliveryView, toWebhookView, type WebhookView } from "./webhook-view.js";
import {
  deleteWebhook,
  findWebhookById,
  insertWebhook,
  listDeliveries,
  listWebhooks,
} from "./webhooks.repository.js";

export interface CreateWebhookInput {
  /** An http(s) URL, already parsed and normalised. */
  url: string;
  events: WebhookEventType[];
  /** Set: only this user's events are sent. */
  user_id?: string | null;
}

/** Optional guard: act only on a webhook bound to this user, as a user-bound credential must. */
export interface Owner {
  userId?: string | undefined;
}

export const WEBHOOK_ID = /^wh_[0-9A-Za-z]{22}$/;

export class WebhookService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly guard: AddressGuard,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The secret is in `secret`, this once; the URL's host must resolve to public addresses only. */
  async create(input: CreateWebhookInput, ctx: RequestContext): Promise<WebhookView & { secret: string }> {
    try {
      await this.guard.resolve(new URL(input.url));
    } catch (err) {
      if (err instanceof RefusedDestination) throw AppError.invalid("url", err.message);
      throw err;
    }
    const now = this.now();
    const secret = newSigningSecret();
    const row = await this.db.transaction().execute(async (trx) => {
      const inserted = await insertWebhook(trx, {
        id: newId("wh"),
        url: input.url,
        events: input.events,
        secret,
        user_id: input.user_id ?? null,
        created_by: JSON.stringify(ctx.actor),
        created_at: now,
        updated_at: now,
      });
      await insertAuditEvent(trx, ctx, {
        action: "webhook.created",
        user_id: inserted.user_id,
        changes: { webhook_id: inserted.id, url: inserted.url, events: inserted.events },
      });
      return inserted;
    });
    return { ...toWebhookView(row), secret };
  }

  async list(filter: { user_id?: string }, limit: number, cursor?: string): Promise<Page<WebhookView>> {
    const after = cursor ? decodeCreatedCursor(cursor, WEBHOOK_ID) : undefined;
    const rows = await listWebhooks(this.db, filter, limit + 1, after);
    return toPage(rows, limit, toWebhookView, createdPosition);
  }

  async get(id: string, owner: Owner = {}): Promise<WebhookView> {
    return toWebhookView(ownedOrNotFound(await findWebhookById(this.db, id), owner));
  }

  /** Deletes the webhook and its deliveries: nothing more is sent to it, and its secret is gone. */
  async delete(id: string, ctx: RequestContext, owner: Owner = {}): Promise<WebhookView> {
    const row = await this.db.transaction().execute(async (trx) => {
      ownedOrNotFound(await findWebhookById(trx, id), owner);
      const deleted = await deleteWebhook(trx, id);
      if (!deleted) throw AppError.notFound("webhook");
      await insertAuditEvent(trx, ctx, {
        action: "webhook.deleted",
        user_id: deleted.user_id,
        changes: { webhook_id: deleted.id, url: deleted.url, events: deleted.events },
      });
      return deleted;
    });
    return toWebhookView(row);
  }

  async deliveries(
    id: string,
    filter: { status?: DeliveryStatus },
    limit: number,
    cursor?: string,
    owner: Owner = {},
  ): Promise<Page<DeliveryView>> {
    ownedOrNotFound(await findWebhookById(this.db, id), owner);
    const before = cursor ? decodeCursor(cursor, ["id"] as const).id : undefined;
    if (before !== undefined && !/^\d{1,18}$/.test(before)) {
      throw AppError.invalid("cursor", "is not a cursor this API returned");
    }
    const rows = await listDeliveries(this.db, id, filter, limit + 1, before);
    return toPage(rows, limit, toDeliveryView, (row) => ({ id: String(row.id) }));
  }
}

function ownedOrNotFound(row: WebhookRow | undefined, owner: Owner): WebhookRow {
  if (!row || (owner.userId !== undefined && row.user_id !== owner.userId))
    throw AppError.notFound("webhook");
  return row;
}
