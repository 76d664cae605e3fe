/** A TCP port on 127.0.0.1 that nothing listens on right now (for private servers: Redis, the bench). */
import net from 'node:net';
import { once } from 'node:events';

/** Asks the kernel for a free port by binding to port 0, then releases it. */
export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}
