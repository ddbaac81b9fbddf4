/**
 * In-process serialisation for the runtime. ADD/DEL/CHECK of one attachment (network, container id,
 * ifname) must not interleave: a DEL racing its own ADD would remove a cache entry the ADD then writes.
 * Different attachments run in parallel. GC enumerates the cache and DELs what is stale, so it must see
 * no ADD half done: it runs alone.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** keys with an operation running or queued (for tests and diagnostics) */
  get busy(): number {
    return this.tails.size;
  }
}

/** Readers share, a writer runs alone; a waiting writer stops new readers so GC cannot starve. */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: { write: boolean; go: () => void }[] = [];

  private pump(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (!next) break;
      if (next.write) {
        if (this.writer || this.readers > 0) return;
        this.queue.shift();
        this.writer = true;
        next.go();
        return;
      }
      if (this.writer) return;
      this.queue.shift();
      this.readers++;
      next.go();
    }
  }

  private acquire(write: boolean): Promise<void> {
    return new Promise((go) => {
      this.queue.push({ write, go });
      this.pump();
    });
  }

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.readers--;
      this.pump();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.pump();
    }
  }
}
