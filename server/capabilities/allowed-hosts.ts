/**
 * Spin's `allowed_outbound_hosts` grammar and matcher (spinframework/spin
 * crates/outbound-networking-config/src/allowed_hosts.rs), pure: entries are parsed once per
 * component, then every outbound request (HTTP, Redis, Postgres, MySQL, MQTT, sockets) is checked.
 *
 * Entries are `scheme://host[:port]`. Where Spin's own parser is accidentally stricter (it splits the
 * port at the last `:`, so `http://[::1]` and `http://[fd00::]/8` fail there) this one accepts the
 * documented forms; where Spin silently accepts an entry that can never match (`HTTP://`, a path
 * after the port) this one either normalises it or reports it with a fix.
 */
import { BlockList, isIP } from 'node:net';

/** Where an outbound request goes. */
export interface OutboundTarget {
  /** Without the trailing `:`, e.g. `https`. */
  readonly scheme: string;
  /** Lower-case; IPv6 without brackets. */
  readonly host: string;
  /** Undefined means the scheme's default port. */
  readonly port?: number;
}

/** An `allowed_outbound_hosts` entry that cannot be parsed; the message names the entry and the fix. */
export class AllowedHostError extends Error {
  override readonly name = 'AllowedHostError';
  /** The offending entry as written. */
  readonly entry: string;

  constructor(message: string, entry: string) {
    super(message);
    this.entry = entry;
  }
}

/**
 * Default ports for schemes an entry may name without a port. Spin knows http, https, redis,
 * postgres, mysql and mqtt; rediss, ws and wss are added because their clients have fixed defaults too.
 */
const DEFAULT_PORTS: ReadonlyMap<string, number> = new Map([
  ['http', 80],
  ['https', 443],
  ['ws', 80],
  ['wss', 443],
  ['redis', 6379],
  ['rediss', 6380],
  ['postgres', 5432],
  ['mysql', 3306],
  ['mqtt', 1883],
]);

const SERVICE_CHAINING_SUFFIX = '.spin.internal';

// Relative URLs are only meaningful to outbound HTTP, so only these schemes make `self` usable (as in Spin).
const SELF_SCHEMES: ReadonlySet<string> = new Set(['*', 'http', 'https']);

// What a `{{ variable }}` template produces when the variable is empty: Spin treats it as "no entry".
const EMPTY_TEMPLATE_RESULTS: ReadonlySet<string> = new Set(['', 'http://', 'https://']);

type NormalHost =
  | { readonly kind: 'ipv4'; readonly address: string }
  // `v4` is set for IPv4-mapped addresses, which must match IPv4 rules too.
  | { readonly kind: 'ipv6'; readonly address: string; readonly v4?: string }
  | { readonly kind: 'domain'; readonly name: string };

type HostRule =
  | { readonly kind: 'any' }
  | { readonly kind: 'self' }
  | { readonly kind: 'chain' }
  /** `.example.com`, leading dot included so the apex and `badexample.com` do not match. */
  | { readonly kind: 'subdomain'; readonly suffix: string }
  | { readonly kind: 'domain'; readonly name: string }
  | { readonly kind: 'ip'; readonly family: 'ipv4' | 'ipv6'; readonly address: string }
  | { readonly kind: 'cidr'; readonly family: 'ipv4' | 'ipv6'; readonly list: BlockList };

/** End-exclusive, like Spin's `Range<u16>`; a single port `p` is `p..p+1`. */
type PortRule = { readonly kind: 'any' } | { readonly kind: 'range'; readonly start: number; readonly end: number };

interface Rule {
  /** `*` or a lower-case scheme. */
  readonly scheme: string;
  readonly host: HostRule;
  readonly port: PortRule;
}

// Characters that cannot appear in a host once scheme, port and path are split off; the WHATWG parser
// would otherwise silently reinterpret some of them (`%` decoding, `@` userinfo, `\` as `/`).
const FORBIDDEN_HOST_CHARS = /[\s/?#@:[\]\\%<>^|"'`{}*,]/;

/**
 * Normalises a host the way the WHATWG URL parser (and so the guest's `new URL`) does: lower-case,
 * punycode, IPv4 shorthands such as `127.1` resolved, IPv6 compressed, one trailing dot dropped.
 */
function normalizeHost(raw: string): NormalHost | undefined {
  const bracketed = raw.startsWith('[') && raw.endsWith(']');
  let host = bracketed ? raw.slice(1, -1) : raw;
  if (bracketed && !host.includes(':')) return undefined;
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return undefined;
  if (host.includes(':')) {
    // Zone ids (`fe80::1%eth0`) never reach a URL and name no routable address; drop them.
    const zone = host.indexOf('%');
    if (zone !== -1) host = host.slice(0, zone);
    if (isIP(host) !== 6) return undefined;
    const address = new URL(`http://[${host}]/`).hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
    if (mapped === null) return { kind: 'ipv6', address };
    const hi = parseInt(mapped[1] ?? '0', 16);
    const lo = parseInt(mapped[2] ?? '0', 16);
    return { kind: 'ipv6', address, v4: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}` };
  }
  if (FORBIDDEN_HOST_CHARS.test(host)) return undefined;
  let name: string;
  try {
    name = new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
  if (name === '') return undefined;
  return isIP(name) === 4 ? { kind: 'ipv4', address: name } : { kind: 'domain', name };
}

/** IPv4-mapped IPv6 addresses are the IPv4 address for matching and display. */
function canonicalIp(host: NormalHost): { family: 'ipv4' | 'ipv6'; address: string } | undefined {
  if (host.kind === 'domain') return undefined;
  if (host.kind === 'ipv6' && host.v4 !== undefined) return { family: 'ipv4', address: host.v4 };
  return { family: host.kind, address: host.address };
}

function targetParts(target: OutboundTarget | URL): { scheme: string; host: string; port: number | undefined } {
  if (target instanceof URL) {
    return {
      scheme: target.protocol.replace(/:$/, '').toLowerCase(),
      host: target.hostname,
      port: target.port === '' ? undefined : Number(target.port),
    };
  }
  return { scheme: target.scheme.replace(/:$/, '').toLowerCase(), host: target.host, port: target.port };
}

function hostMatches(rule: HostRule, host: NormalHost): boolean {
  switch (rule.kind) {
    case 'any':
      return true;
    case 'self':
    case 'chain':
      // Neither names a network host: `self` is a flag, chaining is dispatched in-process by component id.
      return false;
    case 'subdomain':
      return host.kind === 'domain' && host.name.endsWith(rule.suffix);
    case 'domain':
      return host.kind === 'domain' && host.name === rule.name;
    case 'ip':
    case 'cidr': {
      if (host.kind === 'domain') return false;
      const candidates: Array<{ family: 'ipv4' | 'ipv6'; address: string }> =
        host.kind === 'ipv4'
          ? [{ family: 'ipv4', address: host.address }]
          : [{ family: 'ipv6', address: host.address }, ...(host.v4 === undefined ? [] : [{ family: 'ipv4' as const, address: host.v4 }])];
      return candidates.some((c) =>
        c.family === rule.family && (rule.kind === 'ip' ? c.address === rule.address : rule.list.check(c.address, c.family)),
      );
    }
  }
}

function portMatches(rule: PortRule, port: number | undefined): boolean {
  if (rule.kind === 'any') return true;
  return port !== undefined && port >= rule.start && port < rule.end;
}

/** Parser state for one entry: formats messages consistently. */
class EntryParser {
  constructor(
    private readonly entry: string,
    private readonly where: string | undefined,
  ) {}

  fail(problem: string, fix: string): never {
    const prefix = this.where === undefined || this.where === '' ? '' : `${this.where}: `;
    throw new AllowedHostError(`${prefix}allowed_outbound_hosts entry ${JSON.stringify(this.entry)} ${problem}; ${fix}`, this.entry);
  }
}

interface ParsedEntry {
  readonly rule: Rule;
  /** The component id for `<id>.spin.internal`, `*` for `*.spin.internal`. */
  readonly chained?: string;
}

function parseEntry(original: string, where: string | undefined): ParsedEntry {
  const p: EntryParser = new EntryParser(original, where);
  const entry = original.trim();

  if (entry === '*') p.fail('is not a valid host pattern', 'to allow all outbound networking (which disables network sandboxing) write "*://*:*"');
  if (entry === 'insecure:allow-all') {
    p.fail('is no longer supported', 'to allow all outbound networking (which disables network sandboxing) write "*://*:*"');
  }
  const list = /\{([^{}]*)\}/.exec(entry);
  if (list !== null || entry.includes('{') || entry.includes('}')) {
    const items = (list?.[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    const expanded = list !== null && items.length > 0
      ? `, e.g. ${items.map((item) => JSON.stringify(entry.replace(list[0], item))).join(', ')}`
      : '';
    p.fail('uses a {...} list, which is not supported', `write one entry per value${expanded}`);
  }

  const sep = entry.indexOf('://');
  if (sep === -1) {
    // `http:example.com` has a scheme but lost its slashes; `localhost:3000` is a host and port.
    const schemeOnly = /^([a-z]+):\/?(?![\d*]|$)(.*)$/i.exec(entry);
    if (schemeOnly !== null) {
      p.fail('is missing "//" after the scheme', `write it as ${JSON.stringify(`${schemeOnly[1]}://${schemeOnly[2]}`)}`);
    }
    p.fail('has no scheme', `write it as ${JSON.stringify(`https://${entry}`)} (or "http://...")`);
  }

  const rawScheme = entry.slice(0, sep);
  let rest = entry.slice(sep + 3);
  if (rawScheme === '') p.fail('has no scheme before "://"', `name one, e.g. ${JSON.stringify(`https://${rest}`)}, or use "*://" for any scheme`);
  if (rawScheme !== '*' && !/^[a-z]+$/i.test(rawScheme)) {
    p.fail(`has an invalid scheme ${JSON.stringify(rawScheme)}`, 'a scheme is letters only (e.g. "https", "redis", "postgres") or "*" for any scheme');
  }
  const scheme = rawScheme.toLowerCase();

  // One trailing "/" is what people copy from a browser; anything longer is a path.
  if (rest.endsWith('/')) rest = rest.slice(0, -1);

  let hostPart: string;
  let prefix: string | undefined;
  let portPart: string | undefined;
  let pathPart: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) p.fail('has a "[" without a closing "]"', 'write IPv6 addresses as e.g. "http://[::1]:8080"');
    hostPart = rest.slice(0, close + 1);
    const after = /^(?:\/(\d+))?(?::([^/]*))?(\/.*)?$/.exec(rest.slice(close + 1));
    if (after === null) p.fail(`has unexpected text ${JSON.stringify(rest.slice(close + 1))} after the IPv6 address`, 'write it as e.g. "http://[::1]:8080" or "http://[fd00::]/8:8080"');
    [, prefix, portPart, pathPart] = after;
  } else if ((rest.match(/:/g) ?? []).length >= 2) {
    // A bare IPv6 address can only be a CIDR range (`fd00::/8`, optionally `:port`, as Spin writes
    // it): without the prefix its last group is indistinguishable from a port.
    const cidr = /^([0-9a-f:.]+)\/(\d+)(?::([^/]*))?(\/.*)?$/i.exec(rest);
    if (cidr === null || isIP(cidr[1] ?? '') !== 6) {
      const bracketed = isIP(rest) === 6 ? `[${rest}]` : '[::1]';
      p.fail('has an IPv6 address without brackets', `write it as ${JSON.stringify(`${scheme}://${bracketed}:8080`)} (with your port), or a range as "[fd00::]/8"`);
    }
    [, hostPart = '', prefix, portPart, pathPart] = cidr;
  } else {
    const slash = rest.indexOf('/');
    const colon = rest.indexOf(':');
    // `10.0.0.0/8:5432` is a range with a port; `example.com/api` and `example.com:443/api` have paths.
    const cidr = /^([0-9.]+)\/(\d+)(?::([^/]*))?(\/.*)?$/.exec(rest);
    if (cidr !== null && isIP(cidr[1] ?? '') === 4) {
      [, hostPart = '', prefix, portPart, pathPart] = cidr;
    } else if (slash !== -1 && (colon === -1 || slash < colon)) {
      hostPart = rest.slice(0, slash);
      pathPart = rest.slice(slash);
    } else if (colon !== -1) {
      hostPart = rest.slice(0, colon);
      const port = rest.slice(colon + 1);
      const portSlash = port.indexOf('/');
      portPart = portSlash === -1 ? port : port.slice(0, portSlash);
      pathPart = portSlash === -1 ? undefined : port.slice(portSlash);
    } else {
      hostPart = rest;
    }
  }

  if (pathPart !== undefined) {
    const withoutPath = `${rawScheme}://${hostPart}${prefix === undefined ? '' : `/${prefix}`}${portPart === undefined ? '' : `:${portPart}`}`;
    p.fail(`has a path (${JSON.stringify(pathPart)})`, `entries name only scheme://host[:port], so write ${JSON.stringify(withoutPath)}`);
  }
  if (hostPart === '' || hostPart === '[]') {
    const port = portPart === undefined ? '' : `:${portPart}`;
    p.fail('has no host', `name a host, IP address or range, or "*" for any host, e.g. ${JSON.stringify(`${rawScheme}://*${port === '' && scheme === '*' ? ':*' : port}`)}`);
  }

  const { host, chained } = parseHost(p, scheme, hostPart, prefix);
  const port = parsePort(p, rawScheme, scheme, hostPart, portPart, prefix);
  return { rule: { scheme, host, port }, ...(chained === undefined ? {} : { chained }) };
}

function parseHost(p: EntryParser, scheme: string, hostPart: string, prefix: string | undefined): { host: HostRule; chained?: string } {
  if (prefix !== undefined) {
    const net = normalizeHost(hostPart);
    if (net === undefined || net.kind === 'domain') {
      p.fail(`has an invalid address range ${JSON.stringify(`${hostPart}/${prefix}`)}`, 'write a CIDR range such as "10.0.0.0/8" or "[fd00::]/8"');
    }
    // A mapped range (`[::ffff:10.0.0.0]/104`) stays IPv6: its prefix counts IPv6 bits.
    const ip = { family: net.kind, address: net.address };
    const bits = Number(prefix);
    const max = ip.family === 'ipv4' ? 32 : 128;
    if (bits > max) p.fail(`has a prefix length of ${bits}`, `an ${ip.family === 'ipv4' ? 'IPv4' : 'IPv6'} range takes 0-${max}, e.g. ${ip.family === 'ipv4' ? '"10.0.0.0/8"' : '"[fd00::]/8"'}`);
    const list = new BlockList();
    list.addSubnet(ip.address, bits, ip.family);
    return { host: { kind: 'cidr', family: ip.family, list } };
  }

  const lower = hostPart.toLowerCase();
  if (lower === '*') return { host: { kind: 'any' } };
  if (lower === 'self' || lower === 'self.alt') return { host: { kind: 'self' } };

  if (lower.startsWith('*.')) {
    const domain = lower.slice(2);
    if (domain.includes('*')) p.fail('has more than one "*" in the host', 'only a single leading "*." is allowed, e.g. "*.example.com"');
    const net = normalizeHost(domain);
    if (net === undefined) p.fail(`has an invalid domain ${JSON.stringify(domain)} after "*."`, 'write it as e.g. "https://*.example.com"');
    if (net.kind !== 'domain') p.fail('puts "*." in front of an IP address', 'wildcards match domain names only; for addresses write a CIDR range such as "10.0.0.0/8"');
    if (`.${net.name}` === SERVICE_CHAINING_SUFFIX) return { host: { kind: 'chain' }, chained: '*' };
    return { host: { kind: 'subdomain', suffix: `.${net.name}` } };
  }
  if (lower.includes('*')) {
    p.fail(`has a "*" inside the host ${JSON.stringify(hostPart)}`, 'use "*" alone for any host or a leading "*." for any subdomain, e.g. "*.example.com"');
  }

  const net = normalizeHost(hostPart);
  if (net === undefined) {
    p.fail(`has an invalid host ${JSON.stringify(hostPart)}`, `write a domain name or IP address, e.g. ${JSON.stringify(`${scheme}://example.com`)} or "http://[::1]:8080"`);
  }
  const ip = canonicalIp(net);
  if (ip !== undefined) return { host: { kind: 'ip', ...ip } };
  if (net.kind === 'domain' && net.name.endsWith(SERVICE_CHAINING_SUFFIX)) {
    const id = net.name.slice(0, -SERVICE_CHAINING_SUFFIX.length);
    if (id.includes('.')) {
      p.fail(`names ${JSON.stringify(id)}, which is not a component id`, `service chaining takes one component id, e.g. "http://my-component.spin.internal", or "http://*.spin.internal" for all`);
    }
    return { host: { kind: 'chain' }, chained: id };
  }
  if (net.kind !== 'domain') throw new Error('unreachable: IP hosts returned above');
  return { host: { kind: 'domain', name: net.name } };
}

function parsePort(p: EntryParser, rawScheme: string, scheme: string, hostPart: string, portPart: string | undefined, prefix: string | undefined): PortRule {
  const hostText = `${hostPart}${prefix === undefined ? '' : `/${prefix}`}`;
  if (portPart === undefined || portPart === '') {
    if (scheme === '*') {
      p.fail('has scheme "*" but no port', `with any scheme the port must be given, e.g. ${JSON.stringify(`*://${hostText}:443`)} or ${JSON.stringify(`*://${hostText}:*`)} for any port`);
    }
    const port = DEFAULT_PORTS.get(scheme);
    if (port === undefined) {
      p.fail(`has no port and scheme ${JSON.stringify(rawScheme)} has no default port`, `add one, e.g. ${JSON.stringify(`${rawScheme}://${hostText}:1234`)}, or ":*" for any port`);
    }
    return { kind: 'range', start: port, end: port + 1 };
  }
  if (portPart === '*') return { kind: 'any' };
  const fix = `use a port number 0-65535, a range such as "8000..9000" (end excluded), or "*" for any port, e.g. ${JSON.stringify(`${rawScheme}://${hostText}:8080`)}`;
  const range = /^(\d+)\.\.(\d+)$/.exec(portPart);
  if (range !== null) {
    const start = Number(range[1]);
    const end = Number(range[2]);
    if (start > 65535 || end > 65535) p.fail(`has a port range ${JSON.stringify(portPart)} beyond 65535`, fix);
    if (start >= end) {
      p.fail(`has an empty port range ${JSON.stringify(portPart)}`, `the end is excluded, so write ${JSON.stringify(`${Math.min(start, end)}..${Math.max(start, end) + 1}`)} to include both ports, or ${JSON.stringify(String(start))} for one port`);
    }
    return { kind: 'range', start, end };
  }
  if (!/^\d+$/.test(portPart)) p.fail(`has an invalid port ${JSON.stringify(portPart)}`, fix);
  const port = Number(portPart);
  if (port > 65535) p.fail(`has a port ${portPart} beyond 65535`, fix);
  return { kind: 'range', start: port, end: port + 1 };
}

/** A component's parsed `allowed_outbound_hosts`. */
export class AllowedHosts {
  /** The accepted entries as written (empty-template entries are dropped). */
  readonly entries: readonly string[];
  /**
   * True when relative URLs (requests to the app itself, no authority) are allowed: an HTTP-capable
   * entry (`http`, `https` or `*` scheme) whose host is `self`, `self.alt`, or `*` (as in Spin, where
   * any host includes the app itself).
   */
  readonly allowsSelf: boolean;
  /**
   * Component ids reachable by service chaining (`http://<id>.spin.internal`); `*.spin.internal`
   * expands to the `componentIds` given to `parse`. Only entries with an HTTP-capable scheme count.
   */
  readonly chainedComponents: ReadonlySet<string>;
  private readonly rules: readonly Rule[];

  private constructor(entries: readonly string[], rules: readonly Rule[], chained: ReadonlySet<string>) {
    this.entries = entries;
    this.rules = rules;
    this.chainedComponents = chained;
    this.allowsSelf = rules.some((r) => SELF_SCHEMES.has(r.scheme) && (r.host.kind === 'self' || r.host.kind === 'any'));
  }

  /**
   * Parses `allowed_outbound_hosts`. Entries that are `""`, `"http://"` or `"https://"` (an empty
   * `{{ variable }}`) are skipped. Throws `AllowedHostError` for the first invalid entry; `where`
   * (e.g. `spin.toml: component.api`) prefixes the message.
   */
  static parse(entries: readonly string[], options: { componentIds?: readonly string[]; where?: string } = {}): AllowedHosts {
    const accepted: string[] = [];
    const rules: Rule[] = [];
    const chained = new Set<string>();
    for (const entry of entries) {
      if (typeof entry !== 'string') {
        new EntryParser(String(entry), options.where).fail('is not a string', 'write each entry as a quoted string, e.g. "https://example.com"');
      }
      if (EMPTY_TEMPLATE_RESULTS.has(entry.trim())) continue;
      const parsed = parseEntry(entry, options.where);
      accepted.push(entry);
      rules.push(parsed.rule);
      if (parsed.chained !== undefined && SELF_SCHEMES.has(parsed.rule.scheme)) {
        if (parsed.chained === '*') for (const id of options.componentIds ?? []) chained.add(id);
        else chained.add(parsed.chained);
      }
    }
    return new AllowedHosts(accepted, rules, chained);
  }

  /** True when there are no (non-skipped) entries, i.e. no outbound networking at all. */
  get isEmpty(): boolean {
    return this.entries.length === 0;
  }

  /**
   * True when a request to `target` is allowed: scheme, host and port must all match one entry
   * (IPs match literal IPs and CIDR ranges, an IPv4-mapped IPv6 address also as IPv4; domains match
   * domains and `*.` wildcards, case-insensitively and ignoring one trailing dot). An unknown
   * scheme without a port matches only entries with port `*`. `self` and `*.spin.internal` entries
   * never match here: see `allowsSelf` and `chainedComponents`.
   */
  allows(target: OutboundTarget | URL): boolean {
    const { scheme, host: rawHost, port: rawPort } = targetParts(target);
    const host = normalizeHost(rawHost.toLowerCase());
    if (host === undefined) return false;
    const port = rawPort ?? DEFAULT_PORTS.get(scheme);
    return this.rules.some((r) => (r.scheme === '*' || r.scheme === scheme) && portMatches(r.port, port) && hostMatches(r.host, host));
  }
}

/**
 * The entry a user would add to allow exactly `target`, e.g. `https://api.example.com` or
 * `http://127.0.0.1:8080`: the port only when it is not the scheme's default, IPv6 in brackets,
 * IPv4-mapped addresses as IPv4. A scheme with no known default and no port gets `:*`, since the
 * entry needs some port and the real one is not known.
 */
export function suggestEntry(target: OutboundTarget | URL): string {
  const { scheme, host: rawHost, port } = targetParts(target);
  const net = normalizeHost(rawHost.toLowerCase());
  let host: string;
  if (net === undefined) host = rawHost.toLowerCase();
  else if (net.kind === 'domain') host = net.name;
  else {
    const ip = canonicalIp(net);
    host = ip === undefined || ip.family === 'ipv4' ? (ip?.address ?? net.address) : `[${ip.address}]`;
  }
  const defaultPort = DEFAULT_PORTS.get(scheme);
  if (port === undefined) return defaultPort === undefined ? `${scheme}://${host}:*` : `${scheme}://${host}`;
  return port === defaultPort ? `${scheme}://${host}` : `${scheme}://${host}:${port}`;
}
