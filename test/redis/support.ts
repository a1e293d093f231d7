/** Shared pieces of the Redis tests: clients that are closed after each test, unique prefixes. */
import { createClient } from 'redis';

type Client = ReturnType<typeof createClient>;

let counter = 0;

/** A prefix no other test uses (tables stay apart on one server). */
export function uniquePrefix(name = 't'): string {
  counter++;
  return `hm-test-${name}-${process.pid}-${counter}`;
}

/** Connected clients, closed by `closeAll()`. */
export class Clients {
  private readonly open: Client[] = [];

  /** A connected client; errors are swallowed (tests kill servers on purpose). */
  async connect(url: string, options: { reconnectDelay?: number } = {}): Promise<Client> {
    const client = createClient({ url, socket: { reconnectStrategy: () => options.reconnectDelay ?? 100 } });
    client.on('error', () => undefined);
    this.open.push(client);
    await client.connect();
    return client;
  }

  /** A client whose connect() is started but not awaited (for Redis down at start). */
  connecting(url: string): Client {
    const client = createClient({ url, socket: { reconnectStrategy: () => 100 } });
    client.on('error', () => undefined);
    this.open.push(client);
    client.connect().catch(() => undefined);
    return client;
  }

  /** Destroy every client. */
  closeAll(): void {
    for (const client of this.open.splice(0)) {
      try {
        client.destroy();
      } catch {
        // already closed
      }
    }
  }
}
