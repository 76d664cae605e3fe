// A Redis-trigger guest (fermyon:spin/inbound-redis). Each message is JSON `{ "key": K, "value": V }`
// and is appended to the Redis list K (RPUSH), so a test can check that every message ran, in order.
// Messages that ask for it misbehave instead: `{"fail": true}` returns the handler's error result,
// `{"trap": true}` throws (a trap), `{"loop": true}` never returns (the deadline must stop it).
// `{"busyMs": N}` spins for N ms before recording, so a test can have messages in flight.
import { Redis, Variables } from '../../sdk/spin.js';

const decoder = new TextDecoder();

export const inboundRedis = {
  handleMessage(payload: Uint8Array): void {
    const msg = JSON.parse(decoder.decode(payload)) as { key?: string; value?: string; fail?: boolean; trap?: boolean; loop?: boolean; busyMs?: number };
    if (msg.loop) for (;;) {}
    if (msg.busyMs) for (const until = Date.now() + msg.busyMs; Date.now() < until; ) {}
    if (msg.trap) throw new TypeError('recorder was asked to trap');
    if (msg.fail) {
      // The WIT result's err case (fermyon:spin/redis-types error): componentize-js returns a thrown
      // value carrying `payload` as the error.
      throw Object.assign(new Error('recorder was asked to fail'), { payload: 'error' });
    }
    const address = Variables.get('redis_address') ?? 'redis://127.0.0.1:6379';
    Redis.open(address).execute('RPUSH', msg.key ?? 'spinet-recorder', msg.value ?? '');
  },
};
