// %{name}: a Redis-trigger component. spinet subscribes to the channel in spin.toml and runs
// handleMessage for every message, in a fresh instance, one message at a time, in order.
import { Redis, Variables } from '@spinet/sdk';

const decoder = new TextDecoder();

/** Spin's Redis trigger calls this export (fermyon:spin/inbound-redis). */
export const inboundRedis = {
  handleMessage(payload: Uint8Array): void {
    const message = decoder.decode(payload);
    // Guest output goes to spinet's log, tagged with the app and component.
    console.log(`%{name} received: ${message}`);
    // Record it: the list "%{name}:received" holds every message, newest last.
    const address = Variables.get('redis_address') ?? 'redis://127.0.0.1:6379';
    Redis.open(address).execute('RPUSH', '%{name}:received', message);
  },
};
