const FIRST_SLOTS = 64;
/** 2^14 slots (128 KB per connection at most): open ids further apart than this share a slot. */
const MOST_SLOTS = 1 << 14;

/**
 * A connection's open streams by id, in slots of an array indexed by the id: a client's stream ids
 * are odd and rise, so the streams open at once fall in different slots while their ids are less
 * than twice the slot count apart. A stream still open when a newer one lands on its slot (a watch,
 * a slow call) moves to a Map on the side, which is empty in the usual case.
 *
 * Not a Map for the usual case because of the garbage collector: a Map rebuilds its table as it grows
 * and shrinks, here with every burst of requests, and V8 links each replaced table to the next. Once
 * one of those tables is in the old generation (a collection while a burst was open), every later
 * table and the streams it held survive young collections through that link, dead or not: about
 * 1 MB more copied and promoted per scavenge at 12,000 calls/s, scavenges three times as long, until
 * the connection closes (docs/PERFORMANCE.md). An array is replaced only when it grows.
 */
export class StreamTable<S extends { readonly id: number }> {
  private slots: (S | undefined)[] = new Array(FIRST_SLOTS).fill(undefined);
  private mask = FIRST_SLOTS - 1;
  private readonly aside = new Map<number, S>();
  private count = 0;

  constructor(private readonly mostSlots = MOST_SLOTS) {}

  get size(): number {
    return this.count;
  }

  get(id: number): S | undefined {
    const stream = this.slots[(id >>> 1) & this.mask];
    if (stream?.id === id) return stream;
    return this.aside.size === 0 ? undefined : this.aside.get(id);
  }

  /** Adds a stream whose id is not in the table. */
  add(stream: S): void {
    this.count++;
    let slot = (stream.id >>> 1) & this.mask;
    let occupant = this.slots[slot];
    // Two open streams on one slot: more slots when the two are near (more calls open at once than
    // the slots hold) and that is allowed, else the older one aside.
    while (
      occupant !== undefined &&
      stream.id - occupant.id < 4 * this.slots.length &&
      this.slots.length < this.mostSlots
    ) {
      this.grow();
      slot = (stream.id >>> 1) & this.mask;
      occupant = this.slots[slot];
    }
    if (occupant !== undefined) this.aside.set(occupant.id, occupant);
    this.slots[slot] = stream;
  }

  delete(stream: S): void {
    const slot = (stream.id >>> 1) & this.mask;
    if (this.slots[slot] === stream) this.slots[slot] = undefined;
    else if (!this.aside.delete(stream.id)) return;
    this.count--;
  }

  /** The open streams, as a list of their own: the caller may close them while it walks it. */
  list(): S[] {
    const streams: S[] = [];
    if (this.count === 0) return streams;
    for (const stream of this.slots) if (stream !== undefined) streams.push(stream);
    for (const stream of this.aside.values()) streams.push(stream);
    return streams;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Array(old.length * 2).fill(undefined);
    this.mask = this.slots.length - 1;
    for (const stream of old) if (stream !== undefined) this.slots[(stream.id >>> 1) & this.mask] = stream;
  }
}
